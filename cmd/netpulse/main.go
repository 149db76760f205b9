// Command netpulse is the one binary of the netpulse monitoring pipeline:
// serve runs every part, admin manages users and venues, agent ships venue
// files, trends evaluates the burst detector, bench measures each stage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: netpulse <command> [flags]

commands:
  serve            run netpulse (embedded defaults; --kafka/--clickhouse to scale out)
  admin user add   create a user: --data DIR --name NAME --role ROLE [--unit U] [--venue CODE] [--password P]
  admin user list  list users
  admin venue add  register a venue: --data DIR --code CODE --kind cafe|hotel --name NAME --district D --unit U
  admin venue list list venues
  admin venue rotate-key|revoke-key --code CODE
                   (user and venue commands take --kafka BROKERS to change a scaled-out cluster's registry)
  admin sources    list|export|import feed sources with serve stopped: --data DIR [--file sources.yaml]
  agent            ship venue export files: --watch DIR --server URL --key K
  trends eval      run the burst detector over a series: --in SERIES.csv --out ALERTS.csv
  bench            measure every stage against its ceiling: [--scale tiny|small|full] [--json FILE]
  config           print every setting, its environment variable and default
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "netpulse:", err)
		}
		os.Exit(1)
	}
}

func dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "serve":
		cfg, err := loadConfig("serve", args[1:], os.Getenv, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout, stderr)
	case "admin":
		return runAdmin(ctx, args[1:], stdout, stderr)
	case "agent":
		return runAgent(ctx, args[1:], stdout, stderr)
	case "trends":
		return runTrends(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "config":
		writeConfigDoc(stdout)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
