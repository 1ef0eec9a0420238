package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/linux-builder/linux-builder/internal/api"
	"github.com/linux-builder/linux-builder/internal/store"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "API tokens of the REST API (/api/v1 and the /build routes)",
		Long: `Tokens authenticate the REST API: Authorization: Bearer <token>. A token's scope
says what it may do: read (its own builds, their logs and artifacts; validate
specs), build (also start, cancel and rebuild builds, generate specs) or admin
(every build, GitHub's included). Only a token's sha256 is stored: create
prints the token once.`,
	}
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRevokeCmd())
	return cmd
}

func newTokenCreateCmd() *cobra.Command {
	var (
		sf    storeFlags
		name  string
		scope string
	)
	cmd := &cobra.Command{
		Use:   "create --name NAME --scope read|build|admin",
		Short: "Make a token and print it, once, on standard output",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, err := store.ParseScope(scope)
			if err != nil {
				return fmt.Errorf("%w: --scope: %w", errUsage, err)
			}
			if err := store.ValidTokenName(name); err != nil {
				return fmt.Errorf("%w: --name: %w", errUsage, err)
			}
			ctx := cmd.Context()
			db, err := sf.openReady(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			token, hash, err := api.NewToken()
			if err != nil {
				return err
			}
			t, err := db.CreateToken(ctx, name, sc, hash)
			if errors.Is(err, store.ErrTokenExists) {
				return fmt.Errorf("%w (revoke it first: bot token revoke %s)", err, name)
			}
			if err != nil {
				return err
			}
			// The token alone on standard output, for scripts; the rest on
			// standard error.
			fmt.Fprintf(cmd.ErrOrStderr(), "token %q (scope %s, id %d): shown once, store it now\n", t.Name, t.Scope, t.ID)
			fmt.Fprintln(cmd.OutOrStdout(), token)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&name, "name", "", "the token's name (letters, digits, . _ -; unique among live tokens)")
	cmd.Flags().StringVar(&scope, "scope", "", "read, build or admin")
	return cmd
}

func newTokenListCmd() *cobra.Command {
	var (
		sf       storeFlags
		all, raw bool
	)
	cmd := &cobra.Command{
		Use:   "list [--all] [--json]",
		Short: "List the tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			db, err := sf.openReady(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			tokens, err := db.Tokens(ctx, all)
			if err != nil {
				return err
			}
			if raw {
				type row struct {
					ID         int64      `json:"id"`
					Name       string     `json:"name"`
					Scope      string     `json:"scope"`
					CreatedAt  time.Time  `json:"createdAt"`
					LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
					RevokedAt  *time.Time `json:"revokedAt,omitempty"`
				}
				rows := make([]row, 0, len(tokens))
				for _, t := range tokens {
					rows = append(rows, row{t.ID, t.Name, string(t.Scope), t.CreatedAt, t.LastUsedAt, t.RevokedAt})
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tSCOPE\tCREATED\tLAST USED\tREVOKED")
			for _, t := range tokens {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Scope, stamp(&t.CreatedAt), stamp(t.LastUsedAt), stamp(t.RevokedAt))
			}
			return w.Flush()
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&all, "all", false, "also the revoked tokens")
	cmd.Flags().BoolVar(&raw, "json", false, "print JSON")
	return cmd
}

func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func newTokenRevokeCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token: it is refused from its next request on",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("%w: revoke needs exactly one NAME", errUsage)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			db, err := sf.openReady(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.RevokeToken(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "token %q revoked\n", args[0])
			return nil
		},
	}
	sf.register(cmd)
	return cmd
}
