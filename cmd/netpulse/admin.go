package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/netpulse/netpulse/access"
)

// runAdmin handles `netpulse admin user|venue add|list|...`. The last line it
// prints on success is the new token or key, which scripts rely on.
func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return fmt.Errorf("admin: want `admin user add|list|disable` or `admin venue add|list|rotate-key|revoke-key|hold|release`")
	}
	what, verb := args[0], args[1]
	if what == "sources" {
		return runAdminSources(ctx, verb, args[2:], stdout, stderr)
	}
	fs := flag.NewFlagSet("admin "+what+" "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "./netpulse-data", "netpulse data folder")
	name := fs.String("name", "", "user name, or venue name")
	role := fs.String("role", "", "user role: admin, analyst, duty, leader, auditor, operator")
	unit := fs.String("unit", "", "responsible cyber unit")
	venue := fs.String("venue", "", "venue code of an operator account")
	password := fs.String("password", "", "login password for the web UI (optional)")
	code := fs.String("code", "", "venue code")
	kind := fs.String("kind", "", "venue kind: cafe or hotel")
	district := fs.String("district", "", "venue district")
	kafka := fs.String("kafka", "", "Kafka brokers host:port,... of a scaled-out cluster: change the cluster's registry (netpulse.state), not only DATA's")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	reg, err := access.Open(*data, 0)
	if err != nil {
		return err
	}
	if *kafka != "" {
		// DATA becomes (or stays) a copy of the cluster's registry: caught
		// up before the command reads it, and changed only through Kafka.
		cfg := &Config{Kafka: strings.Split(*kafka, ",")}
		st, err := shareTable(ctx, cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
			access.StateTable, reg.StateTable(), true)
		if err != nil {
			return err
		}
		defer st.stop()
		reg.Share(st.log)
	} else if verb != "list" {
		// Changing a copy alone would fork it from the cluster, silently:
		// the other nodes would never learn of the change.
		replica, err := reg.Replica(ctx)
		if err != nil {
			return err
		}
		if replica {
			return fmt.Errorf("admin %s %s on %s: %w", what, verb, *data, access.ErrReplica)
		}
	}
	switch what + " " + verb {
	case "user add":
		r, err := access.ParseRole(*role)
		if err != nil {
			return err
		}
		tok, err := reg.AddUser(ctx, access.UserSpec{Name: *name, Role: r, Unit: *unit, Venue: *venue, Password: *password})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s (%s) created; API token:\n%s\n", *name, r, tok)
	case "user list":
		users, err := reg.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tUNIT\tVENUE\tCREATED\tSTATUS")
		for _, u := range users {
			status := "active"
			if u.Disabled {
				status = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, u.Unit, u.Venue, u.Created.Format(time.DateTime), status)
		}
		return tw.Flush()
	case "user disable":
		if err := reg.DisableUser(ctx, *name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "user %s disabled\n", *name)
	case "venue add":
		key, err := reg.AddVenue(ctx, access.Venue{Code: *code, Kind: *kind, Name: *name, District: *district, Unit: *unit})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "venue %s (%s) registered; API key:\n%s\n", *code, *kind, key)
	case "venue list":
		venues, err := reg.Venues(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CODE\tKIND\tNAME\tDISTRICT\tUNIT\tKEY\tHOLD")
		for _, v := range venues {
			key := "active"
			if v.Revoked {
				key = "revoked"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\n", v.Code, v.Kind, v.Name, v.District, v.Unit, key, v.LegalHold)
		}
		return tw.Flush()
	case "venue rotate-key":
		key, err := reg.RotateVenueKey(ctx, *code)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "venue %s: old key revoked; new API key:\n%s\n", *code, key)
	case "venue revoke-key":
		if err := reg.RevokeVenueKey(ctx, *code); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "venue %s: key revoked\n", *code)
	case "venue hold", "venue release":
		if err := reg.SetLegalHold(ctx, *code, verb == "hold"); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "venue %s: legal hold %v\n", *code, verb == "hold")
	default:
		return fmt.Errorf("admin: unknown command %q", what+" "+verb)
	}
	return nil
}
