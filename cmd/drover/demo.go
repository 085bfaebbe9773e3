package main

import "io"

func runDemo(args []string, stdout io.Writer) error { return nil }
