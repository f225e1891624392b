package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "(not implemented yet)",
		Action: func(*cli.Context) error {
			return errors.New("bench: not implemented yet")
		},
	}
}
