package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

func generateCommand() *cli.Command {
	return &cli.Command{
		Name:  "generate",
		Usage: "(not implemented yet)",
		Action: func(*cli.Context) error {
			return errors.New("generate: not implemented yet")
		},
	}
}
