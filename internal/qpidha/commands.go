package qpidha

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qpidha/qpidha/internal/mgmt/client"
	"github.com/qpidha/qpidha/internal/mgmt/wire"
)

// The HA module's management type and its operations beyond READ (the
// names of internal/ha, which tools do not link).
const (
	haBrokerType = "org.apache.qpid.ha:habroker"
	opPromote    = "PROMOTE"
	opReplicate  = "REPLICATE"
)

// states are the HA states a broker reports; standalone is also what
// qpid-ha reports for a broker without the HA module.
var states = []string{"standalone", "joining", "catchup", "ready", "recovering", "active"}

// Aliases --expect accepts besides the states: the manual's
// `status --expect=primary` never worked in the original, whose statuses
// have no "primary" (QPID-4600).
const (
	expectPrimary = "primary"
	expectBackup  = "backup"
)

// matches reports whether a status satisfies an --expect value (see
// ha.State.Matches, which this mirrors without linking the broker).
func matches(status, expect string) bool {
	status, expect = strings.ToLower(status), strings.ToLower(expect)
	switch expect {
	case expectPrimary:
		return isPrimary(status)
	case expectBackup:
		return status == "joining" || status == "catchup" || status == "ready"
	}
	return status == expect
}

func isPrimary(status string) bool { return status == "active" || status == "recovering" }

func validExpect(expect string) bool {
	e := strings.ToLower(expect)
	if e == expectPrimary || e == expectBackup {
		return true
	}
	for _, s := range states {
		if s == e {
			return true
		}
	}
	return false
}

// invocation is a checked command line, ready to run.
type invocation struct {
	cmd  *command
	args []string // the command's arguments, without its name
	c    *cli.Context
	conn *settings
	out  io.Writer
}

// parse checks the command, its arguments and options, and the connection
// options.
func parse(c *cli.Context, environ []string, out io.Writer) (*invocation, error) {
	args := c.Args().Slice()
	if len(args) == 0 {
		return nil, usagef("", "no command given")
	}
	cmd := findCommand(args[0])
	if cmd == nil {
		return nil, usagef("", "unknown command %q", args[0])
	}
	if cmd.manager && !c.Bool(optClusterManager) {
		return nil, managerOnly(cmd.name)
	}
	if n := len(args) - 1; n != len(cmd.args) {
		if n < len(cmd.args) {
			return nil, usagef(cmd.usage(), "%s needs %s", cmd.name, strings.Join(cmd.args[n:], " and "))
		}
		return nil, usagef(cmd.usage(), "unexpected argument %q", args[len(cmd.args)+1])
	}
	for _, o := range []string{optExpect, optIsPrimary, optAll, optDryRun, optJSON, optVerbose} {
		if c.IsSet(o) && !cmd.takes(o) {
			return nil, usagef(cmd.usage(), "option --%s is not an option of %s", o, cmd.name)
		}
	}
	if c.IsSet(optExpect) {
		switch e := c.String(optExpect); {
		case !validExpect(e):
			return nil, usagef(cmd.usage(), "option --expect: invalid choice: '%s' (choose from %s, %s or %s)",
				e, strings.Join(states, ", "), expectPrimary, expectBackup)
		case c.Bool(optIsPrimary):
			return nil, usagef(cmd.usage(), "--expect and --is-primary cannot be combined")
		}
	}
	if (c.IsSet(optExpect) || c.Bool(optIsPrimary)) && c.Bool(optAll) {
		return nil, usagef(cmd.usage(), "--all cannot be combined with --expect or --is-primary (they check the broker of -b)")
	}
	if (c.IsSet(optExpect) || c.Bool(optIsPrimary)) && (c.Bool(optJSON) || c.Bool(optVerbose)) {
		return nil, usagef(cmd.usage(), "--expect and --is-primary print nothing: --json and --verbose do not apply")
	}
	if c.Bool(optVerbose) && (!c.Bool(optAll) || c.Bool(optJSON)) {
		return nil, usagef(cmd.usage(), "--verbose is a table of every broker: give --all, and not --json")
	}
	conn, err := connectionSettings(c, environ)
	if err != nil {
		return nil, err
	}
	return &invocation{cmd: cmd, args: args[1:], c: c, conn: conn, out: out}, nil
}

// haStatus is what the HA module reports (its READ), or, for a broker
// without the module, standalone.
type haStatus struct {
	Status     string `json:"status"`
	BrokerID   string `json:"brokerId"`
	BrokersURL string `json:"brokersUrl"`
	PublicURL  string `json:"publicUrl"`
	Replicate  string `json:"replicate"`
	// InReadySet: the broker is in the ready set of the membership it
	// knows (what makes a ready backup promotable).
	InReadySet bool   `json:"inReadySet"`
	Epoch      uint64 `json:"epoch"`
	Position   string `json:"position,omitempty"`
	// StoreHealth is "ok", why the broker's store does not keep up (a
	// full or stalled disk), or "" from a broker without a store.
	StoreHealth string `json:"storeHealth,omitempty"`
	// LinkError is why a backup cannot replicate from the primary when
	// its own settings are the cause (credentials, TLS); "" otherwise.
	LinkError string `json:"linkError,omitempty"`
	Uptime    int64  `json:"uptimeSeconds"`
	Version   string `json:"version,omitempty"`
}

// readStatus asks a broker for its HA status. A broker without the HA
// module (neither ha-cluster nor ha-queue-replication) does not know the
// type: it is standalone, and its broker object's name is its id.
func readStatus(ctx context.Context, c *client.Client) (*haStatus, error) {
	r, err := c.Request(ctx, wire.OpRead, haBrokerType, "", nil)
	if err != nil {
		return nil, err
	}
	if r.Status == wire.StatusNotFound {
		st := &haStatus{Status: "standalone", Replicate: "none"}
		if r, err := c.Request(ctx, wire.OpRead, wire.TypeBroker, "", nil); err == nil && r.Err() == nil {
			st.BrokerID = str(attrs(r.Body)["name"])
		}
		return st, nil
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("HA status of %s: %v", c.Addr, err)
	}
	a := attrs(r.Body)
	st := &haStatus{
		Status:      str(a["status"]),
		BrokerID:    str(a["brokerId"]),
		BrokersURL:  str(a["brokersUrl"]),
		PublicURL:   str(a["publicUrl"]),
		Replicate:   str(a["replicate"]),
		InReadySet:  a["inReadySet"] == true,
		Position:    str(a["position"]),
		StoreHealth: str(a["storeHealth"]),
		LinkError:   str(a["linkError"]),
		Version:     str(a["version"]),
	}
	if n, ok := number(a["epoch"]); ok {
		st.Epoch = uint64(n)
	}
	if n, ok := number(a["uptime"]); ok {
		st.Uptime = n
	}
	if st.Status == "" {
		return nil, fmt.Errorf("HA status of %s: the answer has no status", c.Addr)
	}
	return st, nil
}

// number reads a whole number of any AMQP integer type.
func number(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case uint64:
		return int64(n), n <= 1<<63-1
	case int32:
		return int64(n), true
	case uint32:
		return int64(n), true
	case int:
		return int64(n), true
	}
	return 0, false
}

func attrs(body any) map[string]any {
	m, _ := body.(map[string]any)
	return m
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// ping connects and asks a trivial question: any answer will do.
func ping(inv *invocation) error {
	s := inv.conn
	return s.with(s.addrs, s.user, s.password, func(ctx context.Context, c *client.Client) error {
		_, err := c.Request(ctx, wire.OpRead, wire.TypeBroker, "", nil)
		return err
	})
}

// status prints the broker's status, checks it (--expect, --is-primary) or
// prints every cluster member's (--all).
func status(inv *invocation) error {
	s := inv.conn
	var st *haStatus
	err := s.with(s.addrs, s.user, s.password, func(ctx context.Context, c *client.Client) error {
		var err error
		st, err = readStatus(ctx, c)
		return err
	})
	if err != nil {
		return err
	}
	switch {
	case inv.c.IsSet(optExpect):
		if !matches(st.Status, inv.c.String(optExpect)) {
			return exitStatus(1)
		}
		return nil
	case inv.c.Bool(optIsPrimary):
		if !isPrimary(st.Status) {
			return exitStatus(1)
		}
		return nil
	}
	switch {
	case inv.c.Bool(optJSON) && (!inv.c.Bool(optAll) || st.BrokersURL == ""):
		return writeJSON(inv.out, st)
	case inv.c.Bool(optJSON):
		return allJSON(inv, st)
	case !inv.c.Bool(optAll) || st.BrokersURL == "":
		fmt.Fprintln(inv.out, st.Status)
		return nil
	case inv.c.Bool(optVerbose):
		return statusTable(inv, st)
	}
	return eachBroker(inv, st, writeStatusLine)
}

// writeJSON prints one broker's status as a JSON object.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// brokerJSON is one broker of --all --json: its address and status, or
// the error reaching it.
type brokerJSON struct {
	Address string `json:"address"`
	*haStatus
	Error string `json:"error,omitempty"`
}

// allJSON prints every broker's status as a JSON array.
func allJSON(inv *invocation, self *haStatus) error {
	var all []brokerJSON
	err := eachBroker(inv, self, func(_ io.Writer, label string, st *haStatus, err error) {
		b := brokerJSON{Address: label, haStatus: st}
		if err != nil {
			b.Error = err.Error()
		}
		all = append(all, b)
	})
	if err != nil {
		return err
	}
	return writeJSON(inv.out, all)
}

// statusTable prints --all --verbose: a row per broker. Lag is how many
// replication events a broker's position is behind the primary's (the
// same epoch), "-" for the primary and where it cannot be told.
func statusTable(inv *invocation, self *haStatus) error {
	type row struct {
		label string
		st    *haStatus
		err   error
	}
	var rows []row
	if err := eachBroker(inv, self, func(_ io.Writer, label string, st *haStatus, err error) {
		rows = append(rows, row{label, st, err})
	}); err != nil {
		return err
	}
	var primary *haStatus
	for _, r := range rows {
		if r.st != nil && isPrimary(r.st.Status) {
			primary = r.st
		}
	}
	tw := tabwriter.NewWriter(inv.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tSTATE\tREADY SET\tEPOCH\tLAG\tUPTIME\tVERSION")
	for _, r := range rows {
		if r.err != nil {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\n", r.label, r.err)
			continue
		}
		st := r.st
		ready := yesNo(st.InReadySet)
		if isPrimary(st.Status) {
			ready = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.label, st.Status, ready, st.Epoch, lag(primary, st),
			(time.Duration(st.Uptime) * time.Second).String(), st.Version)
	}
	return tw.Flush()
}

// lag is how many replication events st is behind the primary.
func lag(primary, st *haStatus) string {
	if primary == nil || st == primary || isPrimary(st.Status) {
		return "-"
	}
	pe, ps, ok1 := splitPosition(primary.Position)
	e, s, ok2 := splitPosition(st.Position)
	if !ok1 || !ok2 || pe != e || s > ps {
		return "-"
	}
	return strconv.FormatUint(ps-s, 10)
}

// splitPosition reads a position "epoch.sequence".
func splitPosition(p string) (epoch, seq uint64, ok bool) {
	a, b, found := strings.Cut(p, ".")
	if !found {
		return 0, 0, false
	}
	e, err1 := strconv.ParseUint(a, 10, 64)
	s, err2 := strconv.ParseUint(b, 10, 64)
	return e, s, err1 == nil && err2 == nil
}

// writeStatusLine is a broker's line of status --all: "address status",
// then, on lines of their own (scripts read the first), why its store does
// not keep up and why it cannot replicate, if so.
func writeStatusLine(w io.Writer, label string, st *haStatus, err error) {
	if err != nil {
		fmt.Fprintf(w, "%s %s\n", label, err)
		return
	}
	fmt.Fprintf(w, "%s %s\n", label, st.Status)
	if st.StoreHealth != "" && st.StoreHealth != "ok" {
		fmt.Fprintf(w, "  store: %s\n", st.StoreHealth)
	}
	if st.LinkError != "" {
		fmt.Fprintf(w, "  link: %s\n", st.LinkError)
	}
}

// query prints the broker's HA configuration and status, or every cluster
// member's (--all).
func query(inv *invocation) error {
	s := inv.conn
	var st *haStatus
	err := s.with(s.addrs, s.user, s.password, func(ctx context.Context, c *client.Client) error {
		var err error
		st, err = readStatus(ctx, c)
		return err
	})
	if err != nil {
		return err
	}
	switch {
	case inv.c.Bool(optJSON) && (!inv.c.Bool(optAll) || st.BrokersURL == ""):
		return writeJSON(inv.out, st)
	case inv.c.Bool(optJSON):
		return allJSON(inv, st)
	case !inv.c.Bool(optAll) || st.BrokersURL == "":
		writeQuery(inv.out, st)
		return nil
	}
	return eachBroker(inv, st, func(w io.Writer, label string, st *haStatus, err error) {
		if err != nil {
			fmt.Fprintf(w, "%s %s\n\n", label, err)
			return
		}
		fmt.Fprintf(w, "%-20s %s\n", "Address:", label)
		writeQuery(w, st)
		fmt.Fprintln(w)
	})
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func writeQuery(w io.Writer, st *haStatus) {
	lines := [][2]string{
		{"Status:", st.Status},
		{"Broker ID:", st.BrokerID},
		{"Brokers URL:", st.BrokersURL},
		{"Public URL:", st.PublicURL},
		{"Replicate:", st.Replicate},
	}
	if matches(st.Status, expectBackup) {
		// What makes a ready backup promotable (the OCF agent reads it).
		lines = append(lines, [2]string{"In ready set:", yesNo(st.InReadySet)})
	}
	if st.Position != "" {
		lines = append(lines, [2]string{"Position:", st.Position})
	}
	if st.StoreHealth != "" {
		lines = append(lines, [2]string{"Store:", st.StoreHealth})
	}
	if st.LinkError != "" {
		lines = append(lines, [2]string{"Link error:", st.LinkError})
	}
	for _, l := range lines {
		fmt.Fprintf(w, "%-20s %s\n", l[0], l[1])
	}
}

// eachBroker reads the status of every address of the broker's
// ha-brokers-url, in parallel (a hung member costs one timeout, not one
// each), and prints them in the URL's order. An address without
// credentials of its own uses -b's (or --config's).
func eachBroker(inv *invocation, self *haStatus, print func(io.Writer, string, *haStatus, error)) error {
	u, err := clusterAddrs(self.BrokersURL)
	if err != nil {
		return err
	}
	s := inv.conn
	user, password := s.user, s.password
	if u.User != "" {
		user, password = u.User, u.Password
	}
	type result struct {
		st  *haStatus
		err error
	}
	results := make([]result, len(u.Addrs))
	var wg sync.WaitGroup
	for i, a := range u.Addrs {
		wg.Add(1)
		go func(i int, a client.Address) {
			defer wg.Done()
			var st *haStatus
			err := s.with([]client.Address{a}, user, password, func(ctx context.Context, c *client.Client) error {
				var err error
				st, err = readStatus(ctx, c)
				return err
			})
			if err != nil {
				err = fmt.Errorf("%s", trimConnect(oneLine(err.Error()), a.HostPort()))
			}
			results[i] = result{st, err}
		}(i, clientAddr(a))
	}
	wg.Wait()
	for i, a := range u.Addrs {
		print(inv.out, brokerLabel(clientAddr(a)), results[i].st, results[i].err)
	}
	return nil
}

// promote asks the broker to become the primary. The broker decides: it
// refuses (409) while catching up, when another broker is primary, and
// (403) an identity that may not administer it.
func promote(inv *invocation) error {
	s := inv.conn
	return s.with(s.addrs, s.user, s.password, func(ctx context.Context, c *client.Client) error {
		var attrs map[string]any
		if inv.c.Bool(optDryRun) {
			attrs = map[string]any{"dryRun": true}
		}
		r, err := c.Request(ctx, opPromote, haBrokerType, "", attrs)
		if err != nil {
			return err
		}
		switch r.Status {
		case wire.StatusNotFound:
			return fmt.Errorf("the broker at %s cannot be promoted: it has no HA module (it is not in a cluster: ha-cluster=no)", c.Addr)
		case wire.StatusNotImplemented:
			return fmt.Errorf("the broker at %s does not support promote: %s", c.Addr, r.Description)
		}
		if err := r.Err(); err != nil {
			if inv.c.Bool(optDryRun) {
				return fmt.Errorf("the broker at %s would refuse promotion: %v", c.Addr, err)
			}
			return fmt.Errorf("the broker at %s refused to be promoted: %v", c.Addr, err)
		}
		return nil
	})
}

// replicate asks the broker to replicate a queue from the same-named queue
// on another broker, and prints the broker's answer.
func replicate(inv *invocation) error {
	remote, queue := inv.args[0], inv.args[1]
	s := inv.conn
	return s.with(s.addrs, s.user, s.password, func(ctx context.Context, c *client.Client) error {
		r, err := c.Request(ctx, opReplicate, haBrokerType, "", map[string]any{"remote": remote, "queue": queue})
		if err != nil {
			return err
		}
		switch r.Status {
		case wire.StatusNotFound:
			return fmt.Errorf("the broker at %s cannot replicate: it has no HA module (start it with ha-queue-replication=yes or ha-cluster=yes): %s",
				c.Addr, r.Description)
		case wire.StatusNotImplemented:
			return fmt.Errorf("the broker at %s does not support replicate: %s", c.Addr, r.Description)
		}
		if err := r.Err(); err != nil {
			return fmt.Errorf("replicate %s from %s: %v", queue, remote, err)
		}
		writeAnswer(inv.out, r)
		return nil
	})
}

// writeAnswer prints a successful response: its description unless it is
// a bare "OK", then its body.
func writeAnswer(w io.Writer, r *client.Response) {
	if d := strings.TrimSpace(r.Description); d != "" && !strings.EqualFold(d, "OK") {
		fmt.Fprintln(w, d)
	}
	switch b := r.Body.(type) {
	case nil:
	case map[string]any:
		keys := make([]string, 0, len(b))
		for k := range b {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%-20s %s\n", k+":", str(b[k]))
		}
	default:
		if v := str(b); v != "" {
			fmt.Fprintln(w, v)
		}
	}
}
