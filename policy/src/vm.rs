//! The fast path: regorus' bytecode VM (`rvm`), a pool of VMs, and the request-facts path.
//!
//! Why a module of its own: this is an optimisation, never a second policy. The engine
//! ([`crate::engine`]) compiles these paths once per bundle and uses them only after they gave
//! exactly the interpreter's decision on every self-check input ([`crate::self_check`]); every
//! function here answers `None` rather than an error when the VM cannot decide, and the engine
//! then asks the interpreter. Keeping the VM, its pool and the facts cache together keeps that
//! contract in one place.

use std::sync::{Arc, Mutex};

use regorus::Value;
use regorus::rvm::RegoVM;

use crate::facts_cache::FactsCache;
use crate::input::PolicyInput;
use crate::rego_value::{input_value, stable_input_value, stable_with_facts, with_request_fields};

/// The regorus bytecode VM (`rvm`) compiled for one entry point.
///
/// Why: the interpreter re-walks the AST on every call, and for this bundle (~110 rule
/// definitions, most of them `deny` bodies) that costs ~0.8 ms per decision; preparation
/// (analysis, scheduling, hoisting) is *not* repeated per call, so there was nothing to cache
/// there. The VM runs the same bundle about 5× faster; what remains is regorus-internal
/// per-instruction cost (≈ 400–600 CPU instructions per VM instruction: the VM clones a rule's
/// `RuleInfo` on every rule or function call, cached or not, and builds an error value for
/// every failed body). See docs/POLICY.md, "Speed".
///
/// A `RegoVM` needs `&mut self` and is not `Clone`, so finished VMs go back to a small pool;
/// the lock is held only to pop or push, never while evaluating.
pub(crate) struct VmEntry {
    program: Arc<regorus::rvm::program::Program>,
    data: Value,
    pool: Mutex<Vec<RegoVM>>,
}

/// Finished VMs kept for reuse (more than the number of cores is never needed).
const VM_POOL_MAX: usize = 64;

/// Instruction budget per evaluation on the VM (the default bundle needs about a thousand). If
/// a bundle exceeds it, the call falls back to the interpreter rather than failing.
const VM_MAX_INSTRUCTIONS: usize = 1_000_000;

impl VmEntry {
    pub(crate) fn compile(
        engine: &regorus::Engine,
        data: Value,
        entry: &str,
    ) -> Result<VmEntry, String> {
        let mut engine = engine.clone();
        let policy = engine
            .compile_with_entrypoint(&entry.into())
            .map_err(|e| format!("compile: {e}"))?;
        let program =
            regorus::languages::rego::compiler::Compiler::compile_from_policy(&policy, &[entry])
                .map_err(|e| format!("rvm compile: {e}"))?;
        let fast = VmEntry {
            program,
            data,
            pool: Mutex::new(Vec::new()),
        };
        // Fails here (not per call) if the program and the data conflict.
        let vm = fast.new_vm()?;
        fast.put_back(vm);
        Ok(fast)
    }

    fn new_vm(&self) -> Result<RegoVM, String> {
        let mut vm = RegoVM::new();
        vm.load_program(self.program.clone());
        vm.set_data(self.data.clone())
            .map_err(|e| format!("rvm data: {e}"))?;
        // Same as the interpreter: a built-in's runtime error is an error, not `undefined`.
        vm.set_strict_builtin_errors(true);
        vm.set_max_instructions(VM_MAX_INSTRUCTIONS);
        Ok(vm)
    }

    fn put_back(&self, vm: RegoVM) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < VM_POOL_MAX {
            pool.push(vm);
        }
    }

    /// `None` when the VM could not evaluate (the caller then asks the interpreter).
    pub(crate) fn eval(&self, input: Value) -> Option<Value> {
        let vm = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut vm = match vm {
            Some(vm) => vm,
            None => self.new_vm().ok()?,
        };
        vm.set_input(input);
        let out = vm.execute().ok();
        // Do not keep the request's input alive in the pool.
        vm.set_input(Value::Null);
        self.put_back(vm);
        out
    }
}

/// The entry point that computes the request facts (see [`crate::facts_cache`]).
const FACTS_ENTRY_POINT: &str = "data.kruispunt.request_facts";

/// The entry point that decides from request facts handed in as `input.request_facts`.
const GIVEN_FACTS_ENTRY_POINT: &str = "data.kruispunt.decision_given_facts";

/// The VM paths of a prepared bundle: the plain decision, and, when the bundle defines
/// [`FACTS_ENTRY_POINT`] and [`GIVEN_FACTS_ENTRY_POINT`] and they passed the self-check, the
/// cached request facts with the decision from them.
pub(crate) struct FastPath {
    /// `data.kruispunt.decision` on the whole input.
    pub(crate) decision: VmEntry,
    /// The request-facts path, when the bundle has it and it passed the self-check.
    pub(crate) facts: Option<FactsPath>,
}

/// The request facts computed once per stable part of the input (and cached), with the
/// decision from them and the per-request fields.
pub(crate) struct FactsPath {
    facts: VmEntry,
    given: VmEntry,
    pub(crate) cache: FactsCache,
}

impl FactsPath {
    /// `None` when the bundle does not define both entry points (or they do not compile): the
    /// plain VM path then decides every request.
    pub(crate) fn compile(engine: &regorus::Engine, data: Value) -> Option<FactsPath> {
        Some(FactsPath {
            facts: VmEntry::compile(engine, data.clone(), FACTS_ENTRY_POINT).ok()?,
            given: VmEntry::compile(engine, data, GIVEN_FACTS_ENTRY_POINT).ok()?,
            cache: FactsCache::new(),
        })
    }

    /// The decision from cached (or newly computed) request facts; `None` when the VM could
    /// not decide this way, and then the caller takes the plain path.
    pub(crate) fn eval(&self, input: &PolicyInput) -> Option<Value> {
        let key = self.cache.key(input);
        // The cache keeps the stable part of the input value with its facts, so a hit only
        // adds the per-request fields.
        let base = match self.cache.get(&key) {
            Some(base) => base,
            None => {
                let stable = stable_input_value(key.key().input());
                let facts = self.facts.eval(stable.clone())?;
                if facts == Value::Undefined {
                    return None;
                }
                let base = stable_with_facts(stable, facts);
                self.cache.insert(key, base.clone());
                base
            }
        };
        match self.given.eval(with_request_fields(base, input))? {
            Value::Undefined => None,
            out => Some(out),
        }
    }
}

impl FastPath {
    /// The decision from the request-facts path if it can give one, else from the plain VM
    /// path; `None` when neither could (the caller then asks the interpreter).
    pub(crate) fn eval(&self, input: &PolicyInput) -> Option<Value> {
        if let Some(out) = self.facts.as_ref().and_then(|f| f.eval(input)) {
            return Some(out);
        }
        self.decision.eval(input_value(input))
    }
}
