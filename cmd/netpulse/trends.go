package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/netpulse/netpulse/alerts/burst"
)

// runTrends implements `netpulse trends eval --in SERIES.csv --out ALERTS.csv`:
// the production burst detector, online and in input order, over one series.
// The alert column marks the first bucket of every event the detector
// finds, bursts and collapses alike (burst.Result.Onset).
func runTrends(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "eval" {
		fmt.Fprintln(stderr, "usage: netpulse trends eval --in SERIES.csv --out ALERTS.csv")
		return errors.New("trends: want subcommand eval")
	}
	fs := flag.NewFlagSet("trends eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "input series CSV with header timestamp,value (- for stdin)")
	out := fs.String("out", "", "output CSV timestamp,value,score,alert (- for stdout); alert is 1 where a burst or a collapse starts")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		fs.Usage()
		return errors.New("trends eval: --in and --out are required")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var r io.Reader = os.Stdin
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			return fmt.Errorf("trends eval: open input: %w", err)
		}
		defer f.Close()
		r = f
	}
	pts, err := burst.ReadSeries(r)
	if err != nil {
		return fmt.Errorf("trends eval: read %s: %w", *in, err)
	}
	res := burst.Run(pts)
	if *out == "-" {
		return burst.WriteAlerts(stdout, pts, res)
	}
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("trends eval: create output: %w", err)
	}
	if err := burst.WriteAlerts(f, pts, res); err != nil {
		f.Close()
		return fmt.Errorf("trends eval: write %s: %w", *out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("trends eval: close %s: %w", *out, err)
	}
	return nil
}
