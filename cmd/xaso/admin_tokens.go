package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xaso/xaso/node"
)

const nodeTokenUsage = `commands on a commune node's machine (its tokens file, no network):
  node-token create NAME --role R [--ttl 2160h]   a token for an API client; its secret is shown once
  node-token list                                 the tokens, with role and expiry
  node-token revoke NAME                          remove a token: it stops working at the next call
  (each takes --tokens-file, default /etc/xaso/node-tokens.yaml, the node's tokens_file)
`

// runNodeToken manages the node's tokens file: the node reads it again
// whenever it changes, so a change holds at the next call.
func runNodeToken(args []string, now time.Time, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, nodeTokenUsage)
		return errUsage
	}
	cmd := args[0]
	fs := flag.NewFlagSet("xaso admin node-token "+cmd, flag.ContinueOnError)
	file := fs.String("tokens-file", "/etc/xaso/node-tokens.yaml", "the node's tokens_file")
	role := fs.String("role", "", "clerk, officer, leader or monitor (create)")
	ttl := fs.Duration("ttl", 90*24*time.Hour, "how long the token works (create; at most 8784h)")
	// The name may come before or after the flags.
	var pos []string
	rest := args[1:]
	for {
		if err := parseFlags(fs, rest, stderr); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	list, err := readTokens(*file)
	if err != nil {
		return err
	}
	switch cmd {
	case "create":
		if len(pos) != 1 {
			fmt.Fprintln(stderr, "usage: xaso admin node-token create NAME --role R [--ttl D] [--tokens-file F]")
			return errUsage
		}
		if slices.ContainsFunc(list, func(t node.Token) bool { return t.Name == pos[0] }) {
			return fmt.Errorf("name: a token %q exists; revoke it first", pos[0])
		}
		tok, secret, err := node.NewToken(pos[0], *role, *ttl, now)
		if err != nil {
			return fmt.Errorf("node-token create: %w", err)
		}
		if err := writeTokens(*file, append(list, tok)); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "token %q (%s) until %s; its secret, shown only now:\n", tok.Name, tok.Role, tok.Expires.Format(time.RFC3339))
		fmt.Fprintln(stdout, secret)
	case "list":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tEXPIRES\t")
		for _, t := range list {
			state := ""
			if !now.Before(t.Expires) {
				state = "expired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Role, t.Expires.Format(time.RFC3339), state)
		}
		return tw.Flush()
	case "revoke":
		if len(pos) != 1 {
			fmt.Fprintln(stderr, "usage: xaso admin node-token revoke NAME [--tokens-file F]")
			return errUsage
		}
		i := slices.IndexFunc(list, func(t node.Token) bool { return t.Name == pos[0] })
		if i < 0 {
			return fmt.Errorf("name: no token %q in %s", pos[0], *file)
		}
		if err := writeTokens(*file, slices.Delete(list, i, i+1)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %q revoked\n", pos[0])
	default:
		fmt.Fprintf(stderr, "xaso admin node-token: unknown command %q\n%s", cmd, nodeTokenUsage)
		return errUsage
	}
	return nil
}

// readTokens reads a tokens file; a file that does not exist yet is empty.
func readTokens(path string) ([]node.Token, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("tokens-file: %w", err)
	}
	list, err := node.ParseTokens(data)
	if err != nil {
		return nil, fmt.Errorf("tokens-file %s: %w", path, err)
	}
	return list, nil
}

// writeTokens replaces the tokens file at once (a temporary file renamed
// over it), readable by its owner only.
func writeTokens(path string, list []node.Token) error {
	data, err := node.MarshalTokens(list)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tokens-*")
	if err != nil {
		return fmt.Errorf("tokens-file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("tokens-file: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("tokens-file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tokens-file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("tokens-file: %w", err)
	}
	return nil
}

// readSecret reads a token from file, or from the environment variable
// env without one; key names the flag in the error.
func readSecret(file, env, key string) (string, error) {
	secret := os.Getenv(env)
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", key, err)
		}
		secret = strings.TrimSpace(string(data))
	}
	if secret == "" {
		return "", fmt.Errorf("%s: a token is required (--%s FILE or %s)", key, key, env)
	}
	return secret, nil
}
