// Package xmlrpctest holds what the tests of internal/xmlrpc and rpcapi
// share about XML-RPC.
package xmlrpctest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// PythonDir is the committed corpus of requests Python's xmlrpc.client
// sends (see gen.py there), relative to internal/xmlrpc.
const PythonDir = "testdata/python"

// Corpus returns the .xml files of dir by base name (without .xml). The
// test fails if there are none.
func Corpus(tb testing.TB, dir string) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no corpus in %s (err %v)", dir, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".xml")] = b
	}
	return out
}
