package main

import (
	"context"
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/qpidha/qpidha/internal/checker"
)

// The soak: for a while, faults of random kinds on random targets, one at a
// time, each once the lab is healthy again (a 3-node cluster survives one
// failure, then needs its recovery), with a go-amqp and a proton checker
// sending and receiving through the VIP throughout. At the end, the
// total-queue check (every confirmed message received at least once,
// nothing received that no sender sent, duplicates counted) and the
// role-change check of the brokers' logs (never two primaries at once).
// The seed fixes the faults, targets and pauses (the lab's timing does not
// replay).

// soakFault is one kind of fault.
type soakFault struct {
	name string
	// onBroker: the target is a node (the primary's half the time, else a
	// backup's); otherwise the clients.
	onBroker bool
	// inject starts the fault on node n (0 for the clients) and returns
	// what heals it after the hold (nil: nothing, Pacemaker does).
	inject func(ctx context.Context, n int) (heal func() error, err error)
	// hold: the fault lasts a random time in [min, max) before it is
	// healed; zero: none.
	holdMin, holdMax time.Duration
}

func (r *runner) soakFaults() []soakFault {
	link := func(ctx context.Context, dev, state string) error {
		return run(ctx, "ip", "-n", switchNS(), "link", "set", dev, state)
	}
	return []soakFault{
		{name: "sigkill", onBroker: true,
			inject: func(ctx context.Context, n int) (func() error, error) {
				pid, err := r.lab.brokerPID(n)
				if err != nil {
					return nil, err
				}
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					return nil, err
				}
				if !waitGone(pid, 10*time.Second) {
					return nil, fmt.Errorf("broker %d did not die", pid)
				}
				r.lab.marker("KILLED", n, "soak-sigkill")
				return nil, nil
			}},
		{name: "sigstop", onBroker: true, holdMin: time.Second, holdMax: 8 * time.Second,
			inject: func(ctx context.Context, n int) (func() error, error) {
				pid, err := r.lab.brokerPID(n)
				if err != nil {
					return nil, err
				}
				if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
					return nil, err
				}
				return func() error {
					if procState(pid) == "T" { // not killed by its agent meanwhile
						return syscall.Kill(pid, syscall.SIGCONT)
					}
					return nil
				}, nil
			}},
		{name: "crash", onBroker: true,
			inject: func(ctx context.Context, n int) (func() error, error) {
				return nil, r.lab.helper("off", n) // Pacemaker fences it: a reboot
			}},
		{name: "partition", onBroker: true, holdMin: 2 * time.Second, holdMax: 10 * time.Second,
			inject: func(ctx context.Context, n int) (func() error, error) {
				if err := link(ctx, nodeVeth(n), "down"); err != nil {
					return nil, err
				}
				return func() error { return link(ctx, nodeVeth(n), "up") }, nil
			}},
		{name: "client-partition", holdMin: 2 * time.Second, holdMax: 10 * time.Second,
			inject: func(ctx context.Context, _ int) (func() error, error) {
				if err := link(ctx, clientVeth(), "down"); err != nil {
					return nil, err
				}
				return func() error { return link(ctx, clientVeth(), "up") }, nil
			}},
	}
}

func clientVeth() string { return nsPrefix + "vc" }

func (r *runner) soak(ctx context.Context, d time.Duration, seed int64) {
	res := &scenarioResult{Name: "soak", Note: fmt.Sprintf("%v of random faults (seed %d), one at a time, on the primary or a backup: "+
		"SIGKILL, SIGSTOP then SIGCONT, node crash, node partition, client partition; go-amqp and proton checkers through the VIP", d, seed),
		summarize: soakSummary}
	r.results = append(r.results, res)
	t0 := time.Now()
	r.log.Printf("=== soak: %s", res.Note)
	rng := rand.New(rand.NewSource(seed))
	if _, _, err := r.lab.waitHealthy(ctx, 3, 2*time.Minute); err != nil && !r.recover(ctx) {
		res.Problems = append(res.Problems, "not healthy before the soak: "+err.Error())
		r.finishScenario(res)
		return
	}
	for _, client := range []string{"go", "proton"} {
		if err := r.startChecker("qpidlab-soak-"+client, client); err != nil {
			res.Problems = append(res.Problems, client+" checker: "+err.Error())
			r.finishScenario(res, r.stopCheckers()...)
			return
		}
	}
	faults := r.soakFaults()
	for i := 1; time.Since(t0) < d && ctx.Err() == nil; i++ {
		f := faults[rng.Intn(len(faults))]
		onPrimary := rng.Intn(2) == 0
		backupPick := rng.Intn(nodes - 1)
		hold := f.holdMin
		if f.holdMax > f.holdMin {
			hold += time.Duration(rng.Int63n(int64(f.holdMax - f.holdMin)))
		}
		pause := time.Duration(rng.Int63n(int64(3 * time.Second)))
		target := "clients"
		sc := scenario{name: f.name,
			prepare: func(ctx context.Context, p int) (func() error, error) {
				time.Sleep(pause)
				n := 0
				if f.onBroker {
					n = p
					if !onPrimary {
						var backups []int
						for _, b := range allNodes() {
							if b != p {
								backups = append(backups, b)
							}
						}
						n = backups[backupPick]
					}
					target = nodeName(n)
					if n == p {
						target += " (primary)"
					}
				}
				return func() error {
					heal, err := f.inject(ctx, n)
					if err != nil || heal == nil {
						return err
					}
					select {
					case <-time.After(hold):
					case <-ctx.Done():
					}
					return heal()
				}, nil
			}}
		tr := r.trial(ctx, sc, i)
		tr.Fault, tr.Target, tr.Hold = f.name, target, hold.Seconds()
		res.Trials = append(res.Trials, tr)
		if tr.Error != "" {
			r.log.Printf("soak %d: %s on %s: FAILED: %s", i, f.name, target, tr.Error)
			if !r.recover(ctx) {
				res.Problems = append(res.Problems, "the lab could not be brought back: the soak ended early")
				break
			}
		} else {
			r.log.Printf("soak %d: %s on %s (hold %.1fs): %s -> %s, failover %.2fs (outage %.2fs), healthy again after %.1fs",
				i, f.name, target, hold.Seconds(), tr.Primary, tr.NewPrimary, tr.Failover, tr.MaxGap, tr.Recovered)
		}
	}
	reps := r.stopCheckers()
	res.Seconds = time.Since(t0).Seconds()
	r.finishScenario(res, reps...)
}

// maxPrimaries is the most brokers primary at one time in the logs.
func maxPrimaries(ivs []checker.Interval) int {
	type edge struct {
		at    int64
		delta int
	}
	var edges []edge
	for _, iv := range ivs {
		end := iv.End
		if iv.Open {
			end = 1<<63 - 1
		}
		edges = append(edges, edge{iv.Start, 1}, edge{end, -1})
	}
	// At equal times, ends first: a hand-over at one instant is no overlap.
	sort.Slice(edges, func(i, j int) bool {
		return edges[i].at < edges[j].at || edges[i].at == edges[j].at && edges[i].delta < edges[j].delta
	})
	most, now := 0, 0
	for _, e := range edges {
		now += e.delta
		most = max(most, now)
	}
	return most
}

// soakSummary: faults per kind (and how many hit the primary), failover
// times of those that hit the primary (or cut the clients off), and the
// total-queue figures.
func soakSummary(res *scenarioResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| fault | count | on the primary | ok | failover p50 s | failover max s | outage max s |\n|---|---|---|---|---|---|---|\n")
	kinds := map[string][]trialResult{}
	var names []string
	for _, t := range res.Trials {
		if _, ok := kinds[t.Fault]; !ok {
			names = append(names, t.Fault)
		}
		kinds[t.Fault] = append(kinds[t.Fault], t)
	}
	slices.Sort(names)
	for _, name := range names {
		onPrimary, ok := 0, 0
		var fo, gaps []float64
		for _, t := range kinds[name] {
			if t.Error == "" {
				ok++
			}
			if strings.HasSuffix(t.Target, "(primary)") || t.Target == "clients" {
				onPrimary++
				if t.Error == "" {
					fo = append(fo, t.Failover)
					gaps = append(gaps, t.MaxGap)
				}
			}
		}
		slices.Sort(fo)
		slices.Sort(gaps)
		mx, gmx := 0.0, 0.0
		if len(fo) > 0 {
			mx, gmx = fo[len(fo)-1], gaps[len(gaps)-1]
		}
		primary := fmt.Sprint(onPrimary)
		if name == "client-partition" {
			primary = "-"
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %.2f | %.2f | %.2f |\n", name, len(kinds[name]), primary, ok, percentile(fo, 50), mx, gmx)
	}
	fmt.Fprintf(&b, "\n| checker | sent and confirmed | received | lost | never sent | duplicates |\n|---|---|---|---|---|---|\n")
	for _, rep := range res.Checkers {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d |\n", rep.Client, rep.Confirmed, rep.Received, rep.Lost, rep.Unexpected, rep.Duplicates)
	}
	fmt.Fprintf(&b, "\nmost brokers primary at once (role-change logs): %d; overlaps: %d\n", res.MaxPrimaries, res.Overlaps)
	return b.String()
}
