package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:  "info",
		Usage: "(not implemented yet)",
		Action: func(*cli.Context) error {
			return errors.New("info: not implemented yet")
		},
	}
}
