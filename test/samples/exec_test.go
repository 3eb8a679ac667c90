package samples_test

import (
	"context"
	"os/exec"
)

func execCommand(bin string, args ...string) *exec.Cmd {
	return exec.CommandContext(context.Background(), bin, args...)
}
