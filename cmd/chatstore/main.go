// Command chatstore serves and manages chat histories; see "chatstore help".
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/chatstore/chatstore/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, cli.OSEnv(), os.Args[1:])
	stop()
	if err != nil {
		// No "chatstore:" in front: every error already starts with the
		// package that made it ("chatstore: unknown store URL scheme",
		// "sqlitestore: …", "usage error: …"), and a program prefix would
		// say "chatstore: chatstore: …" for the root package's own.
		fmt.Fprintln(os.Stderr, err)
		if errors.Is(err, cli.ErrUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
