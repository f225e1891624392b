package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nextsample/nextsample/train"
)

// The MPI tests build nextsample with -tags mpi and run it under Open MPI's
// mpirun. They skip, saying why, where mpirun or libopenmpi-dev is missing
// (.ci/run installs both on Debian).

// mpiBinary builds the MPI nextsample once per test binary run.
var mpiBinary = sync1(func() (string, error) {
	if _, err := exec.LookPath("mpirun"); err != nil {
		return "", fmt.Errorf("no mpirun (Debian: apt-get install openmpi-bin libopenmpi-dev)")
	}
	if err := exec.Command("pkg-config", "--exists", "ompi-c").Run(); err != nil {
		return "", fmt.Errorf("no pkg-config ompi-c (Debian: apt-get install libopenmpi-dev pkg-config)")
	}
	dir, err := os.MkdirTemp("", "nextsample-mpi-")
	if err != nil {
		return "", err
	}
	cleanups = append(cleanups, func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "nextsample")
	cmd := exec.Command("go", "build", "-tags", "mpi", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -tags mpi: %v\n%s", err, out)
	}
	return bin, nil
})

func sync1(f func() (string, error)) func(t *testing.T) string {
	var done bool
	var v string
	var err error
	return func(t *testing.T) string {
		t.Helper()
		if !done {
			v, err = f()
			done = true
		}
		if err != nil {
			t.Skipf("MPI tests skipped: %v", err)
		}
		return v
	}
}

// mpirunArgs are the mpirun options of the tests: N ranks on this machine
// (2 cores, so --oversubscribe), and --allow-run-as-root where we are root.
func mpirunArgs(n int) []string {
	args := []string{"--oversubscribe", "-np", strconv.Itoa(n)}
	if os.Getuid() == 0 {
		args = append([]string{"--allow-run-as-root"}, args...)
	}
	return args
}

func runCmd(t *testing.T, name string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "NEXTSAMPLE_CACHE_DIR="+t.TempDir())
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String()
}

func mpiTrainArgs(manifest, config, out string, steps int) []string {
	return []string{"train", "--data", manifest, "--config", config, "--out", out, "--steps", strconv.Itoa(steps),
		"--batch", "4", "--crop", "150", "--chunk", "60", "--eval-every", "5", "--save-every", "0", "--decay", "constant"}
}

// TestMPITrainEqualsOneProcess: 2 ranks × 1 thread end with the weights of
// 1 process × 2 threads bit for bit, with one log of every step, and 10
// steps + --resume to 20 ends where 20 in one go does.
func TestMPITrainEqualsOneProcess(t *testing.T) {
	bin := mpiBinary(t)
	manifest, config := writeTinyCorpus(t)
	dir := t.TempDir()
	one := filepath.Join(dir, "one")
	if code, out := runCmd(t, bin, append(mpiTrainArgs(manifest, config, one, 20), "--threads", "2")...); code != 0 {
		t.Fatalf("1 process: exit %d\n%s", code, out)
	}
	two := filepath.Join(dir, "two")
	args := append(mpirunArgs(2), bin)
	code, out := runCmd(t, "mpirun", append(append(args, mpiTrainArgs(manifest, config, two, 20)...), "--threads", "1")...)
	if code != 0 {
		t.Fatalf("mpirun -np 2: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "processes: 2 (MPI)") || strings.Count(out, "step 20/20") != 1 {
		t.Errorf("mpirun output should come from rank 0 alone, once:\n%s", out)
	}
	sameModelTensors(t, filepath.Join(one, train.LastFile), filepath.Join(two, train.LastFile))
	rows := logSteps(t, filepath.Join(two, train.LogFile))
	if len(rows) != 21 || rows[20] != "20" {
		t.Errorf("the 2-rank log has steps %v, want 0..20", rows)
	}

	split := filepath.Join(dir, "split")
	if code, out := runCmd(t, "mpirun", append(append(args, mpiTrainArgs(manifest, config, split, 10)...), "--threads", "1")...); code != 0 {
		t.Fatalf("mpirun, 10 steps: exit %d\n%s", code, out)
	}
	if code, out := runCmd(t, "mpirun", append(args, "train", "--out", split, "--resume", "--steps", "20", "--threads", "1")...); code != 0 {
		t.Fatalf("mpirun --resume: exit %d\n%s", code, out)
	}
	sameModelTensors(t, filepath.Join(one, train.LastFile), filepath.Join(split, train.LastFile))

	// A batch that does not divide over the ranks is refused, by every rank.
	code, out = runCmd(t, "mpirun", append(append(args, mpiTrainArgs(manifest, config, filepath.Join(dir, "odd"), 2)...), "--batch", "3")...)
	if code == 0 || !strings.Contains(out, "--batch 3 does not divide over 2 processes") {
		t.Errorf("batch 3 on 2 ranks: exit %d\n%s", code, out)
	}
}

// TestMPIKillOneRank: a rank killed with SIGKILL ends the job non-zero
// within seconds, and the last checkpoint stays loadable.
func TestMPIKillOneRank(t *testing.T) {
	bin := mpiBinary(t)
	manifest, config := writeTinyCorpus(t)
	out := filepath.Join(t.TempDir(), "run")
	args := append(append(mpirunArgs(2), bin), mpiTrainArgs(manifest, config, out, 1000000)...)
	args = append(args, "--threads", "1", "--save-every", "20", "--eval-every", "0")
	cmd := exec.Command("mpirun", args...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Env = append(os.Environ(), "NEXTSAMPLE_CACHE_DIR="+t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	last := filepath.Join(out, train.LastFile)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(last); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint after 60 s:\n%s", log.String())
		}
	}
	ranks := childPIDs(t, cmd.Process.Pid)
	if len(ranks) != 2 {
		t.Fatalf("mpirun has %d children, want 2", len(ranks))
	}
	killed := time.Now()
	if err := syscall.Kill(ranks[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the job exited 0 after a rank was killed")
		}
		t.Logf("job ended %.1f s after the kill: %v", time.Since(killed).Seconds(), err)
	case <-time.After(60 * time.Second):
		t.Fatal("the job still runs 60 s after a rank was killed")
	}
	if _, err := train.ReadCheckpoint(last); err != nil {
		t.Fatalf("the last checkpoint does not load: %v", err)
	}
	if ranks := childPIDs(t, cmd.Process.Pid); len(ranks) != 0 {
		t.Errorf("ranks %v still run", ranks)
	}
}

// TestMPISigterm: SIGTERM to mpirun stops every rank after the same step;
// rank 0 saves once and the run resumes from it.
func TestMPISigterm(t *testing.T) {
	bin := mpiBinary(t)
	manifest, config := writeTinyCorpus(t)
	out := filepath.Join(t.TempDir(), "run")
	args := append(append(mpirunArgs(2), bin), mpiTrainArgs(manifest, config, out, 1000000)...)
	args = append(args, "--threads", "1", "--eval-every", "0")
	cmd := exec.Command("mpirun", args...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Env = append(os.Environ(), "NEXTSAMPLE_CACHE_DIR="+t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(log.String(), "samples/s"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no step after 60 s:\n%s", log.String())
		}
	}
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the job still runs 60 s after SIGTERM")
	}
	if strings.Count(log.String(), "stopped after step") != 1 {
		t.Errorf("want one 'stopped after step' line (rank 0):\n%s", log.String())
	}
	ck, err := train.ReadCheckpoint(filepath.Join(out, train.LastFile))
	if err != nil {
		t.Fatalf("no loadable checkpoint after SIGTERM: %v\n%s", err, log.String())
	}
	if ck.Step() == 0 {
		t.Fatal("the checkpoint is at step 0")
	}
}

// childPIDs returns the processes whose parent is pid, in PID order.
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	out, _ := exec.Command("pgrep", "-P", strconv.Itoa(pid)).Output()
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// sameModelTensors fails unless the two model files hold the same tensors,
// byte for byte (optimizer state included).
func sameModelTensors(t *testing.T, a, b string) {
	t.Helper()
	ta, tb := tensorBytes(t, a), tensorBytes(t, b)
	if len(ta) != len(tb) {
		t.Fatalf("%s has %d tensors, %s %d", a, len(ta), b, len(tb))
	}
	for name, d := range ta {
		if !bytes.Equal(d, tb[name]) {
			t.Fatalf("tensor %s differs between %s and %s", name, a, b)
		}
	}
}

// logSteps returns the step column of a train_log.csv.
func logSteps(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n")[1:] {
		steps = append(steps, strings.SplitN(line, ",", 2)[0])
	}
	return steps
}

// TestMPITwoHostsNetns runs the 2 ranks on two "hosts" that talk over a
// real (virtual) network: two network namespaces joined by a veth pair,
// mpirun started in the first and reaching the second through an rsh
// agent that runs `ip netns exec`, MPI told to use TCP on that link only.
// The weights equal the 1-process run's, and the gradients crossed the
// link.
func TestMPITwoHostsNetns(t *testing.T) {
	bin := mpiBinary(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (Debian: apt-get install iproute2)")
	}
	id := os.Getpid() % 100000
	nsA, nsB := fmt.Sprintf("nextsample-%d-a", id), fmt.Sprintf("nextsample-%d-b", id)
	vA, vB := fmt.Sprintf("nsv%da", id), fmt.Sprintf("nsv%db", id)
	subnet := fmt.Sprintf("10.%d.%d", 100+id%100, id/100%250)
	ipA, ipB := subnet+".1", subnet+".2"
	ip := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := ip("netns", "add", nsA); err != nil {
		t.Skipf("cannot make network namespaces here (needs root): %v", err)
	}
	t.Cleanup(func() { ip("netns", "del", nsA) })
	if err := ip("netns", "add", nsB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ip("netns", "del", nsB) })
	for _, args := range [][]string{
		{"link", "add", vA, "type", "veth", "peer", "name", vB},
		{"link", "set", vA, "netns", nsA}, {"link", "set", vB, "netns", nsB},
		{"-n", nsA, "addr", "add", ipA + "/24", "dev", vA}, {"-n", nsB, "addr", "add", ipB + "/24", "dev", vB},
		{"-n", nsA, "link", "set", vA, "up"}, {"-n", nsB, "link", "set", vB, "up"},
		{"-n", nsA, "link", "set", "lo", "up"}, {"-n", nsB, "link", "set", "lo", "up"},
	} {
		if err := ip(args...); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	agent := filepath.Join(dir, "netns-agent.sh")
	script := fmt.Sprintf(`#!/bin/sh
# rsh agent for mpirun: run the command in the namespace of the "host".
while [ $# -gt 0 ]; do case $1 in -*) shift ;; *) break ;; esac; done
host=$1
shift
case $host in
%s) ns=%s ;;
%s) ns=%s ;;
*) echo "netns-agent: unknown host $host" >&2; exit 1 ;;
esac
exec ip netns exec "$ns" sh -c "$*"
`, ipA, nsA, ipB, nsB)
	if err := os.WriteFile(agent, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	manifest, config := writeTinyCorpus(t)
	one := filepath.Join(dir, "one")
	if code, out := runCmd(t, bin, append(mpiTrainArgs(manifest, config, one, 10), "--threads", "2")...); code != 0 {
		t.Fatalf("1 process: exit %d\n%s", code, out)
	}
	txBytes := func() int64 {
		out, err := exec.Command("ip", "netns", "exec", nsA, "cat", "/sys/class/net/"+vA+"/statistics/tx_bytes").Output()
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		return n
	}
	before := txBytes()
	two := filepath.Join(dir, "two")
	args := []string{"netns", "exec", nsA, "mpirun", "-np", "2", "--host", ipA + ":1," + ipB + ":1",
		"--mca", "plm_rsh_agent", agent, "--mca", "btl", "tcp,self",
		"--mca", "btl_tcp_if_include", subnet + ".0/24", "--mca", "oob_tcp_if_include", subnet + ".0/24",
		"-x", "NEXTSAMPLE_CACHE_DIR", bin}
	if os.Getuid() == 0 {
		args = append(args[:4], append([]string{"--allow-run-as-root"}, args[4:]...)...)
	}
	args = append(append(args, mpiTrainArgs(manifest, config, two, 10)...), "--threads", "1")
	code, out := runCmd(t, "ip", args...)
	if code != 0 {
		t.Fatalf("mpirun over the veth link: exit %d\n%s", code, out)
	}
	sameModelTensors(t, filepath.Join(one, train.LastFile), filepath.Join(two, train.LastFile))
	// 10 steps of a 3,780-parameter gradient (15 KB) went out over the link.
	if sent := txBytes() - before; sent < 10*15000 {
		t.Errorf("only %d bytes crossed the link", sent)
	}
}
