package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

func featuresCommand() *cli.Command {
	return &cli.Command{
		Name:  "features",
		Usage: "(not implemented yet)",
		Action: func(*cli.Context) error {
			return errors.New("features: not implemented yet")
		},
	}
}
