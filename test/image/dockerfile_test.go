package image_test

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	cmd, args string
}

func parse(t *testing.T, path string) [][]instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages [][]instruction
	var pending string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			pending += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line = pending + line
		pending = ""
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%s: %q before the first FROM", path, line)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	return stages
}

func find(stage []instruction, cmd string) []string {
	var out []string
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

func TestDockerfile(t *testing.T) {
	stages := parse(t, "../../Dockerfile")
	if len(stages) != 2 {
		t.Fatalf("want a build stage and a final stage, got %d stages", len(stages))
	}
	// A version tag, a digest, or distroless's nonroot tag (distroless has no version tags; see the Dockerfile).
	pinned := regexp.MustCompile(`^[a-z0-9./-]+:[0-9][0-9A-Za-z.-]*|^[a-z0-9./-]+:[a-z0-9.-]*nonroot$|@sha256:[0-9a-f]{64}`)
	for i, st := range stages {
		image := strings.Fields(st[0].args)[0]
		if !pinned.MatchString(image) || strings.HasSuffix(image, ":latest") {
			t.Errorf("stage %d: base image %q is not pinned (a version tag or a digest)", i, image)
		}
	}
	build, final := stages[0], stages[1]

	// The build stage builds what `make build` builds: ./cmd/manager, statically, trimmed.
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(makefile), "go build -trimpath -o $(BIN)/manager ./cmd/manager") {
		t.Fatalf("the Makefile's build target changed; keep the Dockerfile and this test in step")
	}
	runs := strings.Join(find(build, "RUN"), "\n")
	for _, want := range []string{"CGO_ENABLED=0", "go build -trimpath -o manager ./cmd/manager", "--mount=type=cache"} {
		if !strings.Contains(runs, want) {
			t.Errorf("build stage RUN lacks %q", want)
		}
	}
	if !strings.Contains(stages[0][0].args, " AS builder") {
		t.Errorf("build stage is not named builder: %q", stages[0][0].args)
	}

	if !strings.HasPrefix(final[0].args, "gcr.io/distroless/") {
		t.Errorf("final stage base %q is not distroless", final[0].args)
	}
	copies := find(final, "COPY")
	if len(copies) != 1 || copies[0] != "--from=builder /workspace/manager /manager" {
		t.Errorf("final stage copies %v, want only the manager binary from the build stage", copies)
	}
	users := find(final, "USER")
	if len(users) != 1 || strings.HasPrefix(users[0], "0") || strings.HasPrefix(users[0], "root") {
		t.Errorf("final stage USER %v, want one non-root user", users)
	}
	if e := find(final, "ENTRYPOINT"); len(e) != 1 || e[0] != `["/manager"]` {
		t.Errorf("ENTRYPOINT %v, want [\"/manager\"]", e)
	}
}

func TestDockerignoreKeepsWhatTheBuildCopies(t *testing.T) {
	raw, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"!go.mod", "!go.sum", "!api/", "!cmd/", "!internal/"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf(".dockerignore does not let %s into the build context", strings.TrimPrefix(want, "!"))
		}
	}
}
