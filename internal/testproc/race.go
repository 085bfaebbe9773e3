//go:build race

package testproc

// Race reports whether the test binary was built with -race; Build then
// builds with -race too.
const Race = true
