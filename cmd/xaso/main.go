// Command xaso is the one binary of xaso, the digital commune: a commune
// node, a member of the central cluster, the whole province in one process
// for a demo, and the operators' commands.
//
//	xaso node --config FILE          one commune node
//	xaso central --config FILE       one member of the central cluster
//	xaso demo [--communes N]         the province on one machine
//	xaso admin [--addr A] COMMAND    operator commands against a node
//	xaso portal --data DIR --token-file F  a stand-in for the national portal
//	xaso check-config FILE           validate a node configuration
//	xaso hash-password < PASSWORD    hash a desk password for a users file
//	xaso version
//
// This package only parses flags and wires the parts together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `usage: xaso COMMAND [flags]

commands:
  node          run one commune node (xaso node --help)
  central       run one member of the central cluster (xaso central --help)
  demo          run the whole province in one process (xaso demo --help)
  admin         operator commands against a node (xaso admin --help)
  portal        a stand-in for the National Public Service Portal (xaso portal --help)
  check-config  validate a configuration file
  hash-password read a password on stdin, print its hash for a node's users_file
  version       print the version
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks an error already explained on stderr with the usage.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "node":
		err = runNode(ctx, args[1:], stderr)
	case "central":
		err = runCentral(ctx, args[1:], stderr)
	case "demo":
		err = runDemo(ctx, args[1:], stdout, stderr)
	case "admin":
		err = runAdmin(ctx, args[1:], stdout, stderr)
	case "portal":
		err = runPortal(ctx, args[1:], stdout, stderr)
	case "check-config":
		err = runCheckConfig(args[1:], stdout, stderr)
	case "hash-password":
		err = runHashPassword(args[1:], os.Stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "xaso", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "xaso: unknown command %q\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "xaso %s: %v\n", args[0], err)
		return 1
	}
}

func versionString() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return "dev-" + s.Value
			}
		}
	}
	return version
}

// parseFlags parses args into fs. A bad flag is one line on stderr naming it
// (errUsage); -h prints the flags and returns flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stderr)
		fmt.Fprintf(stderr, "usage of %s:\n", fs.Name())
		fs.PrintDefaults()
		return err
	default:
		fmt.Fprintf(stderr, "%s: %v (see %s --help)\n", fs.Name(), err, fs.Name())
		return errUsage
	}
}

// newLogger returns a JSON logger on w at the named level.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
