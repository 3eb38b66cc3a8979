package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// TestPeerHangingUpDoesNotStop: writing to a connection the peer has reset
// raises SIGPIPE; it must not cancel the program (it did: a seeding lab
// peer exited the first time a seeder it talked to hung up).
func TestPeerHangingUpDoesNotStop(t *testing.T) {
	ctx, stop := signalContext(context.Background())
	defer stop()
	seen := make(chan os.Signal, 1)
	signal.Notify(seen, syscall.SIGPIPE)
	defer signal.Stop(seen)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.(*net.TCPConn).SetLinger(0) // close with a reset
	s.Close()
	// The first writes after the reset fail with ECONNRESET; EPIPE (and
	// SIGPIPE) follow.
	deadline := time.Now().Add(5 * time.Second)
	for err = nil; !errors.Is(err, syscall.EPIPE); _, err = c.Write([]byte("piece")) {
		if time.Now().After(deadline) {
			t.Fatalf("no EPIPE writing to a reset connection, last error: %v", err)
		}
	}
	select {
	case <-seen:
	case <-time.After(5 * time.Second):
		t.Fatal("the kernel raised no SIGPIPE: the test proves nothing")
	}
	select {
	case <-ctx.Done():
		t.Fatal("a peer hanging up cancelled the program")
	case <-time.After(200 * time.Millisecond): // a cancel would have come within microseconds
	}
}
