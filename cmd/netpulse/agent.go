package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/netpulse/netpulse/collectors/agent"
)

// runAgent is `netpulse agent --watch DIR --server URL --key K`: the file
// drop agent for venue software that can only export files.
func runAgent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	watch := fs.String("watch", "", "folder the venue software exports CSV or NDJSON files into")
	server := fs.String("server", "", "netpulse base URL, e.g. https://netpulse.example:8080")
	key := fs.String("key", "", "the venue's API key (or NETPULSE_AGENT_KEY)")
	poll := fs.Duration("poll", 2*time.Second, "folder scan interval")
	settle := fs.Duration("settle", 3*time.Second, "a file must be unchanged this long before it is sent")
	once := fs.Bool("once", false, "send what is there and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *key == "" {
		*key = getenvAgentKey()
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil)).With("part", "agent")
	a, err := agent.New(agent.Options{Watch: *watch, Server: *server, Key: *key, Poll: *poll, Settle: *settle, Log: log})
	if err != nil {
		return err
	}
	defer a.Close()
	if *once {
		n, err := a.Scan(ctx)
		fmt.Fprintf(stdout, "agent: %d files sent\n", n)
		return err
	}
	log.Info("agent watching", "folder", *watch, "server", *server)
	return a.Run(ctx)
}

// getenvAgentKey keeps the key off the process list when set in the
// environment.
func getenvAgentKey() string { return os.Getenv("NETPULSE_AGENT_KEY") }
