// An independent implementation's view of Kruispunt's signed notes: Go's
// golang.org/x/mod/sumdb/note (Debian's golang-golang-x-mod-dev, GOPATH mode), run by
// broker/tests/integration/interop_go.rs.
//
//	go run note_check.go open VKEY NOTE_FILE
//	    note.Open with the log's verifier key: prints "verified <key name> <key id>", the
//	    number of signature lines it did not know (the witnesses' cosignatures), and the text.
//	go run note_check.go sign ORIGIN SIZE ROOT_BASE64
//	    a fresh key (note.GenerateKey) signs the checkpoint body ORIGIN\nSIZE\nROOT\n: prints
//	    the verifier key on the first line, then the note.
package main

import (
	"crypto/rand"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: open VKEY NOTE_FILE | sign ORIGIN SIZE ROOT_BASE64")
	}
	switch os.Args[1] {
	case "open":
		if len(os.Args) != 4 {
			fail("usage: open VKEY NOTE_FILE")
		}
		v, err := note.NewVerifier(os.Args[2])
		if err != nil {
			fail("the verifier key: %v", err)
		}
		msg, err := os.ReadFile(os.Args[3])
		if err != nil {
			fail("%v", err)
		}
		n, err := note.Open(msg, note.VerifierList(v))
		if err != nil {
			fail("note.Open: %v", err)
		}
		for _, s := range n.Sigs {
			fmt.Printf("verified %s %08x\n", s.Name, s.Hash)
		}
		fmt.Printf("unverified %d\n", len(n.UnverifiedSigs))
		fmt.Print(n.Text)
	case "sign":
		if len(os.Args) != 5 {
			fail("usage: sign ORIGIN SIZE ROOT_BASE64")
		}
		skey, vkey, err := note.GenerateKey(rand.Reader, os.Args[2])
		if err != nil {
			fail("note.GenerateKey: %v", err)
		}
		s, err := note.NewSigner(skey)
		if err != nil {
			fail("note.NewSigner: %v", err)
		}
		text := fmt.Sprintf("%s\n%s\n%s\n", os.Args[2], os.Args[3], os.Args[4])
		msg, err := note.Sign(&note.Note{Text: text}, s)
		if err != nil {
			fail("note.Sign: %v", err)
		}
		fmt.Println(vkey)
		os.Stdout.Write(msg)
	default:
		fail("unknown command %q", os.Args[1])
	}
}
