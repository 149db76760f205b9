package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/netpulse/netpulse/collectors/feeds"
)

// runAdminSources handles `netpulse admin sources list|export|import`:
//
//	admin sources list   --data DIR
//	admin sources export --data DIR [--file sources.yaml]   (stdout without --file)
//	admin sources import --data DIR --file sources.yaml
//
// It opens the feed state directly, so it works while serve is stopped;
// with serve running use /api/v1/sources/export and /import (the state
// file is locked by the running server and the open times out).
func runAdminSources(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admin sources "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./netpulse-data", "netpulse data folder")
	file := fs.String("file", "", "YAML file of sources")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := feeds.OpenStore(filepath.Join(*data, "feeds"))
	if err != nil {
		return fmt.Errorf("%w (is serve running? then use the API)", err)
	}
	defer st.Close()
	if verb == "import" {
		// A copy of the cluster's registry changed alone would fork from
		// it: the other nodes would never learn of the import.
		if replica, err := st.Replica(); err != nil {
			return err
		} else if replica {
			return fmt.Errorf("admin sources import on %s: the sources are a copy of the cluster's state topic; import through a node's API (POST /api/v1/sources/import)", *data)
		}
	}
	switch verb {
	case "list":
		srcs, err := st.Sources()
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tKIND\tINTERVAL\tENABLED\tURL")
		for _, s := range srcs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", s.Name, s.Kind, s.Interval.Std(), s.Enabled, s.URL)
		}
		return tw.Flush()
	case "export":
		srcs, err := st.Sources()
		if err != nil {
			return err
		}
		b, err := feeds.MarshalYAML(srcs)
		if err != nil {
			return err
		}
		if *file == "" {
			_, err = stdout.Write(b)
			return err
		}
		if err := os.WriteFile(*file, b, 0o640); err != nil {
			return fmt.Errorf("export sources: %w", err)
		}
		fmt.Fprintf(stdout, "%d sources written to %s\n", len(srcs), *file)
		return nil
	case "import":
		if *file == "" {
			return fmt.Errorf("admin sources import: --file is required")
		}
		b, err := os.ReadFile(*file)
		if err != nil {
			return fmt.Errorf("import sources: %w", err)
		}
		srcs, err := feeds.UnmarshalYAML(b)
		if err != nil {
			return err
		}
		if err := st.PutSources(ctx, srcs...); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d sources imported from %s\n", len(srcs), *file)
		return nil
	}
	return fmt.Errorf("admin sources: want list, export or import, not %q", verb)
}
