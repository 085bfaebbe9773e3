// Command child is the process the testproc tests start. Its first
// argument says what it does:
//
//	listen json|text   log "master listening" on stderr as a drover master
//	                   does, print "ready" and wait for SIGTERM (exit 0)
//	ignore-term        ignore SIGTERM, print "ready" and wait
//	exit N             print "out" on stdout, "err" on stderr, exit N
//	race               print a data race report, then wait
//	partial            print "no newline" without one and exit 0
//	pieces             print "registered w1" on stdout in two writes,
//	                   with "noise" on stderr between them, and exit 0
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	switch os.Args[1] {
	case "listen":
		if os.Args[2] == "json" {
			fmt.Fprintln(os.Stderr, `{"level":"info","msg":"starting"}`)
			fmt.Fprintln(os.Stderr, `{"addr":"127.0.0.1:4242","auth":false,"level":"info","msg":"master listening"}`)
		} else {
			fmt.Fprintln(os.Stderr, `time="2026-01-02T03:04:05Z" level=info msg="master listening" addr="127.0.0.1:4243" auth=false`)
		}
		fmt.Println("ready")
		<-term
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "exit":
		fmt.Println("out")
		fmt.Fprintln(os.Stderr, "err")
		code, _ := strconv.Atoi(os.Args[2])
		os.Exit(code)
	case "race":
		fmt.Fprintln(os.Stderr, "==================\nWARNING: DATA RACE\n==================")
		<-term
	case "partial":
		fmt.Print("no newline")
	case "pieces":
		fmt.Print("registered ")
		time.Sleep(10 * time.Millisecond)
		fmt.Fprintln(os.Stderr, "noise")
		time.Sleep(10 * time.Millisecond)
		fmt.Println("w1")
	}
}
