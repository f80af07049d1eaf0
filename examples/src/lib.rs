//! Runnable partner scenarios; see the README in this folder.
