package qpidconfig

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qpidha/qpidha/internal/config"
	"github.com/qpidha/qpidha/internal/mgmt/client"
	"github.com/qpidha/qpidha/internal/mgmt/wire"
)

// The queue and exchange arguments qpid-config has options for.
const (
	argFileCount       = "qpid.file_count"
	argFileSize        = "qpid.file_size"
	argEFPPartitionNum = "qpid.efp_partition_num"
	argEFPPoolFileSize = "qpid.efp_pool_file_size"
	argWCachePageSize  = "qpid.wcache-page-size"
	argWCacheNumPages  = "qpid.wcache-num-pages"
	argMaxQueueSize    = "qpid.max_size"
	argMaxQueueCount   = "qpid.max_count"
	argPolicyType      = "qpid.policy_type"
	argLVQKey          = "qpid.last_value_queue_key"
	argMsgSequence     = "qpid.msg_sequence"
	argIVE             = "qpid.ive"
	argFlowStopCount   = "qpid.flow_stop_count"
	argFlowResumeCount = "qpid.flow_resume_count"
	argFlowStopSize    = "qpid.flow_stop_size"
	argFlowResumeSize  = "qpid.flow_resume_size"
	argGroupHeader     = "qpid.group_header_key"
	argSharedGroups    = "qpid.shared_msg_group"
	argReplicate       = "qpid.replicate"
)

// replicateLevels are the values of --replicate.
var replicateLevels = []string{"none", "configuration", "all"}

// haBrokerType is the HA module's management type (--start-replica).
const haBrokerType = "org.apache.qpid.ha:habroker"

// Usage lines of each command, shown with its usage errors.
const (
	usageAddQueue    = "Usage:  qpid-config [OPTIONS] add queue <name> [AddQueueOptions]"
	usageDelQueue    = "Usage:  qpid-config [OPTIONS] del queue <name> [DelQueueOptions]"
	usageAddExchange = "Usage:  qpid-config [OPTIONS] add exchange <type> <name> [AddExchangeOptions]"
	usageDelExchange = "Usage:  qpid-config [OPTIONS] del exchange <name>"
	usageBind        = "Usage:  qpid-config [OPTIONS] bind <exchange-name> <queue-name> [binding-key] [all|any k1=v1 ...]"
	usageUnbind      = "Usage:  qpid-config [OPTIONS] unbind <exchange-name> <queue-name> [binding-key]"
	usageAdd         = "Usage:  qpid-config [OPTIONS] add <type> <name> [--argument <property-name>=<property-value>]"
	usageDel         = "Usage:  qpid-config [OPTIONS] del <type> <name>"
	usageList        = "Usage:  qpid-config [OPTIONS] list <type> [--show-property <property-name>]"
)

// connection reads the connection options: -b (or -a), --sasl-mechanism,
// the TLS files, and the defaults of --config's broker configuration file
// (QPID_<OPTION> environment variables override its entries): its port
// (ssl-port for ssl: addresses) for addresses without one, ha-username,
// ha-password and ha-mechanism when the broker authenticates (auth=yes),
// ssl-ca-file, and ssl-cert-file and ssl-key-file as the client
// certificate.
func connection(c *cli.Context, timeout time.Duration) (client.Options, string, error) {
	opts := client.Options{Mechanism: c.String("sasl-mechanism"), Timeout: timeout, Admin: c.Bool("ha-admin")}
	broker := c.String("broker")
	if c.IsSet("broker-addr") {
		broker = c.String("broker-addr")
	}
	if c.String("ssl-certificate") == "" && c.String("ssl-key") != "" {
		return opts, "", usagef("", "missing '--ssl-certificate' (required by '--ssl-key')")
	}
	var conf *config.Options
	if path := c.String("config"); path != "" {
		var err error
		if conf, _, err = config.ReadFile(path, os.Environ()); err != nil {
			return opts, "", fmt.Errorf("--config %s: %v", path, err)
		}
	}
	var err error
	if opts.TLSConfig, err = client.ToolTLS(c.String("ssl-certificate"), c.String("ssl-key"), c.String("ssl-ca-file"), conf); err != nil {
		return opts, "", err
	}
	if conf == nil {
		return opts, broker, nil
	}
	if !c.IsSet("broker") && !c.IsSet("broker-addr") {
		broker = "localhost"
		if !conf.ListensPlain() {
			broker = "ssl:localhost" // --config's broker listens for TLS only
		}
	}
	target, err := client.ParseURL(broker)
	if err != nil {
		return opts, "", err
	}
	fromConf := func(name string) bool {
		src := conf.Source(name)
		return src != "" && src != "default"
	}
	given := client.PortsGiven(broker)
	for i := range target.Addrs {
		a := &target.Addrs[i]
		switch {
		case i < len(given) && given[i]:
		case !a.TLS && fromConf("port") && conf.Port > 0:
			a.Port = conf.Port
		case a.TLS && fromConf("ssl-port") && conf.SSLPort > 0:
			a.Port = conf.SSLPort
		}
	}
	user, password := target.User, target.Password
	if conf.Auth {
		if user == "" {
			user, password = conf.HAUsername, conf.HAPassword
		}
		if opts.Mechanism == "" {
			opts.Mechanism = conf.HAMechanism
		}
	}
	if broker, err = client.FormatURL(target.Addrs, user, password); err != nil {
		return opts, "", err
	}
	return opts, broker, nil
}

// command is a checked command line, ready to run against a broker.
type command func(ctx context.Context, c *client.Client, out io.Writer) error

// run checks the command line, connects and runs the command.
func run(c *cli.Context, out io.Writer) error {
	cmd, err := parse(c)
	if err != nil {
		return err
	}
	timeout, err := config.ParseSeconds(c.String("timeout"))
	if err != nil || timeout < 0 {
		return usagef("", "option --timeout: invalid value: '%s'", c.String("timeout"))
	}
	opts, broker, err := connection(c, timeout)
	if err != nil {
		return err
	}
	ctx := context.Background()
	cl, err := client.Dial(ctx, broker, opts)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cmd(ctx, cl, out); err != nil {
		return err
	}
	if c.Bool("wait") && isChange(c.Args().First()) {
		return waitForBackups(ctx, cl, timeout)
	}
	return nil
}

func isChange(action string) bool {
	switch action {
	case "add", "del", "bind", "unbind":
		return true
	}
	return false
}

// waitForBackups asks the primary to answer once every ready backup has
// applied the changes made so far (--wait). A broker without HA has no
// backups to wait for.
func waitForBackups(ctx context.Context, c *client.Client, timeout time.Duration) error {
	attrs := map[string]any{}
	if timeout > 0 {
		// The broker gives up a little before this tool does, so its
		// answer (which backups lag) arrives.
		attrs["timeout"] = (timeout * 3 / 4).Seconds()
	} else {
		attrs["timeout"] = (365 * 24 * time.Hour).Seconds() // --timeout 0: wait forever
	}
	r, err := c.Request(ctx, "SYNC", haBrokerType, "", attrs)
	if err != nil {
		return err
	}
	if r.Status == wire.StatusNotFound {
		return nil // standalone
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("the change was made, but waiting for the backups failed: %v", err)
	}
	return nil
}

// parse checks the positional arguments and options of a command line and
// returns the command to run.
func parse(c *cli.Context) (command, error) {
	if r := c.String("replicate"); r != "" && !contains(replicateLevels, r) {
		return nil, fmt.Errorf("Invalid replication level '%s', should be one of: %s", r, strings.Join(replicateLevels, ", "))
	}
	switch p := c.String("limit-policy"); p {
	case "", "none", "reject", "ring", "ring-strict":
	default:
		return nil, usagef(usageAddQueue, "option --limit-policy: invalid choice: '%s' (choose from 'none', 'reject', 'ring', 'ring-strict')", p)
	}
	args := c.Args().Slice()
	if len(args) == 0 {
		return overview, nil
	}
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	recursive, ignoreDefault := c.Bool("recursive"), c.Bool("ignore-default")
	switch args[0] {
	case "exchanges":
		return listExchanges(arg(1), recursive, ignoreDefault), nil
	case "queues":
		return listQueues(arg(1), recursive, ignoreDefault), nil
	case "add":
		switch {
		case arg(1) == "exchange":
			if len(args) < 4 {
				return nil, usagef(usageAddExchange, "add exchange needs a type and a name")
			}
			attrs, err := exchangeAttributes(c)
			if err != nil {
				return nil, err
			}
			return addExchange(args[2], args[3], attrs), nil
		case arg(1) == "queue":
			if len(args) < 3 {
				return nil, usagef(usageAddQueue, "add queue needs a queue name")
			}
			attrs, err := queueAttributes(c)
			if err != nil {
				return nil, err
			}
			return addQueue(args[2], attrs, c.String("start-replica")), nil
		case len(args) >= 3:
			return addObject(args[1], args[2], extraArguments(c.StringSlice("argument"))), nil
		}
		return nil, usagef(usageAdd, "add needs a type and a name")
	case "del":
		switch {
		case arg(1) == "exchange":
			if len(args) < 3 {
				return nil, usagef(usageDelExchange, "del exchange needs an exchange name")
			}
			return delExchange(args[2]), nil
		case arg(1) == "queue":
			if len(args) < 3 {
				return nil, usagef(usageDelQueue, "del queue needs a queue name")
			}
			force := c.Bool("force")
			return delQueue(args[2], !(force || c.Bool("force-if-not-empty")), !(force || c.Bool("force-if-used"))), nil
		case len(args) >= 3:
			return delObject(args[1], args[2]), nil
		}
		return nil, usagef(usageDel, "del needs a type and a name")
	case "bind":
		if len(args) < 3 {
			return nil, usagef(usageBind, "bind needs an exchange and a queue")
		}
		return bind(args[1], args[2], arg(3), args[min(4, len(args)):]), nil
	case "unbind":
		if len(args) < 3 {
			return nil, usagef(usageUnbind, "unbind needs an exchange and a queue")
		}
		return unbind(args[1], args[2], arg(3)), nil
	case "list":
		if len(args) < 2 {
			return nil, usagef(usageList, "list needs a type")
		}
		return listObjects(args[1], c.StringSlice("show-property")), nil
	case "reload-acl":
		return brokerOperation("RELOAD-ACL", nil, nil), nil
	case "log":
		if len(args) > 1 {
			return brokerOperation("SET-LOG-LEVEL", map[string]any{"level": args[1]}, nil), nil
		}
		return brokerOperation("GET-LOG-LEVEL", nil, func(out io.Writer, body any) {
			if m, ok := body.(map[string]any); ok {
				fmt.Fprintln(out, "Log level:", format(m["level"]))
			}
		}), nil
	case "shutdown":
		return brokerOperation("SHUTDOWN", nil, nil), nil
	}
	return nil, usagef("", "unknown command %q", args[0])
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// argValue is the original's get_value: an integer when the text is one,
// else the text; no "=" at all gives no value.
func argValue(s string) (string, any) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return k, nil
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		return k, n
	}
	return k, v
}

// extraArguments reads the --argument NAME=VALUE options.
func extraArguments(list []string) map[string]any {
	args := map[string]any{}
	for _, a := range list {
		k, v := argValue(a)
		args[k] = v
	}
	return args
}

// queueAttributes builds a queue's attributes from the options, as the
// original's AddQueue built its declare arguments.
func queueAttributes(c *cli.Context) (map[string]any, error) {
	args := extraArguments(c.StringSlice("argument"))
	setInt := func(flag, arg string, always bool) {
		if always && c.IsSet(flag) || !always && c.Int64(flag) != 0 {
			args[arg] = c.Int64(flag)
		}
	}
	if c.Bool("durable") {
		// Journal options of the original's stores: kept as arguments.
		setInt("file-count", argFileCount, false)
		setInt("file-size", argFileSize, false)
		setInt("efp-partition-num", argEFPPartitionNum, false)
		setInt("efp-pool-file-size", argEFPPoolFileSize, false)
		setInt("wcache-page-size", argWCachePageSize, false)
		setInt("wcache-num-pages", argWCacheNumPages, false)
	}
	setInt("max-queue-size", argMaxQueueSize, true)
	setInt("max-queue-count", argMaxQueueCount, true)
	switch p := c.String("limit-policy"); p {
	case "reject", "ring", "ring-strict":
		args[argPolicyType] = p
	}
	if k := c.String("lvq-key"); k != "" {
		args[argLVQKey] = k
	}
	setInt("flow-stop-size", argFlowStopSize, true)
	setInt("flow-resume-size", argFlowResumeSize, true)
	setInt("flow-stop-count", argFlowStopCount, true)
	setInt("flow-resume-count", argFlowResumeCount, true)
	if h := c.String("group-header"); h != "" {
		args[argGroupHeader] = h
	}
	if c.Bool("shared-groups") {
		args[argSharedGroups] = int64(1)
	}
	return commonAttributes(c, args), nil
}

// exchangeAttributes builds an exchange's attributes (its type is added by
// the client).
func exchangeAttributes(c *cli.Context) (map[string]any, error) {
	args := extraArguments(c.StringSlice("argument"))
	if c.Bool("sequence") {
		args[argMsgSequence] = int64(1)
	}
	if c.Bool("ive") {
		args[argIVE] = int64(1)
	}
	return commonAttributes(c, args), nil
}

// commonAttributes adds what queues and exchanges share: durable,
// alternate exchange, replication level.
func commonAttributes(c *cli.Context, args map[string]any) map[string]any {
	if r := c.String("replicate"); r != "" {
		args[argReplicate] = r
	}
	attrs := map[string]any{"arguments": args}
	if c.Bool("durable") {
		attrs["durable"] = true
	}
	if x := c.String("alternate-exchange"); x != "" {
		attrs["alternateExchange"] = x
	}
	return attrs
}

// queuesOf lists the queues but the client's own reply queue.
func queuesOf(ctx context.Context, c *client.Client) ([]client.Object, error) {
	all, err := c.Queues(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, q := range all {
		if q.Str("name") != c.ReplyTo() {
			out = append(out, q)
		}
	}
	return out, nil
}

// bindingsOf lists the bindings but those of the client's reply queue.
func bindingsOf(ctx context.Context, c *client.Client) ([]client.Object, error) {
	all, err := c.Bindings(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, b := range all {
		if b.Str("queue") != c.ReplyTo() {
			out = append(out, b)
		}
	}
	return out, nil
}

func overview(ctx context.Context, c *client.Client, out io.Writer) error {
	exchanges, err := c.Exchanges(ctx)
	if err != nil {
		return err
	}
	queues, err := queuesOf(ctx, c)
	if err != nil {
		return err
	}
	writeOverview(out, exchanges, queues)
	return nil
}

func listExchanges(filter string, recursive, ignoreDefault bool) command {
	return func(ctx context.Context, c *client.Client, out io.Writer) error {
		exchanges, err := c.Exchanges(ctx)
		if err != nil {
			return err
		}
		if recursive {
			bindings, err := bindingsOf(ctx, c)
			if err != nil {
				return err
			}
			queues, err := queuesOf(ctx, c)
			if err != nil {
				return err
			}
			writeExchangesRecursive(out, exchanges, withDefaultBindings(bindings, queues), filter, ignoreDefault)
			return nil
		}
		if !writeExchanges(out, exchanges, filter, ignoreDefault) {
			return noMatch("exchange", filter)
		}
		return nil
	}
}

func listQueues(filter string, recursive, ignoreDefault bool) command {
	return func(ctx context.Context, c *client.Client, out io.Writer) error {
		queues, err := queuesOf(ctx, c)
		if err != nil {
			return err
		}
		if recursive {
			bindings, err := bindingsOf(ctx, c)
			if err != nil {
				return err
			}
			writeQueuesRecursive(out, queues, withDefaultBindings(bindings, queues), filter, ignoreDefault)
			return nil
		}
		if !writeQueues(out, queues, filter) {
			return noMatch("queue", filter)
		}
		return nil
	}
}

// noMatch is the original's silent exit status 1 for a list with nothing
// to show, worded.
func noMatch(what, filter string) error {
	if filter == "" {
		return fmt.Errorf("no %ss", what)
	}
	return fmt.Errorf("no %s name contains %q", what, filter)
}

func addQueue(name string, attrs map[string]any, startReplica string) command {
	return func(ctx context.Context, c *client.Client, out io.Writer) error {
		if _, err := c.CreateQueue(ctx, name, attrs); err != nil {
			return err
		}
		if startReplica != "" {
			_, err := c.Call(ctx, "REPLICATE", haBrokerType, "", map[string]any{"broker": startReplica, "queue": name})
			if err != nil {
				return fmt.Errorf("queue %q created, but replication from %s did not start: %v", name, startReplica, err)
			}
		}
		return nil
	}
}

func delQueue(name string, ifEmpty, ifUnused bool) command {
	return func(ctx context.Context, c *client.Client, out io.Writer) error {
		err := c.DeleteQueue(ctx, name, ifEmpty, ifUnused)
		if client.StatusOf(err) == wire.StatusConflict {
			return fmt.Errorf("%v (--force deletes it anyway)", err)
		}
		return err
	}
}

func addExchange(kind, name string, attrs map[string]any) command {
	return func(ctx context.Context, c *client.Client, out io.Writer) error {
		_, err := c.CreateExchange(ctx, kind, name, attrs)
		return err
	}
}

func delExchange(name string) command {
	return func(ctx context.Context, c *client.Client, out io.Writer) error {
		return c.DeleteExchange(ctx, name)
	}
}

func bind(exchange, queue, key string, rest []string) command {
	return func(ctx context.Context, c *client.Client, out io.Writer) error {
		var args map[string]any
		// The exchange's type decides what the rest of the line means, as in
		// the original; an unknown exchange is left to the bind to report.
		x, err := c.Exchange(ctx, exchange)
		if err != nil && client.StatusOf(err) != wire.StatusNotFound {
			return err
		}
		switch x.Str("type") {
		case "headers":
			if args, err = headerMatch(rest); err != nil {
				return err
			}
		case "xml":
			return fmt.Errorf("exchange %q is an XML exchange, which this broker does not have", exchange)
		}
		return c.Bind(ctx, exchange, queue, key, args)
	}
}

// headerMatch reads a headers binding: all|any followed by key=value pairs.
func headerMatch(rest []string) (map[string]any, error) {
	if len(rest) < 2 {
		return nil, fmt.Errorf("Invalid args to bind headers: need 'any'/'all' plus conditions")
	}
	op := rest[0]
	if op != "all" && op != "any" {
		return nil, fmt.Errorf("Invalid condition arg to bind headers, need 'any' or 'all', not '%s'", op)
	}
	m := map[string]any{"x-match": op}
	for _, kv := range rest[1:] {
		kv = strings.TrimSuffix(kv, ",")
		if kv == "" {
			continue // "k1=v1 , k2=v2" as the usage line writes it
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("Invalid header condition '%s': need key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

func unbind(exchange, queue, key string) command {
	return func(ctx context.Context, c *client.Client, out io.Writer) error {
		return c.Unbind(ctx, exchange, queue, key)
	}
}

func addObject(typ, name string, props map[string]any) command {
	return func(ctx context.Context, c *client.Client, out io.Writer) error {
		_, err := c.Create(ctx, typ, name, props)
		return err
	}
}

func delObject(typ, name string) command {
	return func(ctx context.Context, c *client.Client, out io.Writer) error {
		return c.Delete(ctx, typ, name, nil)
	}
}

// defaultProperties are the columns of list for the broker's types.
var defaultProperties = map[string][]string{
	"exchange":   {"name", "type", "durable"},
	"queue":      {"name", "durable", "autoDelete"},
	"binding":    {"exchange", "queue", "key", "arguments"},
	"broker":     {"name", "version", "port", "uptime", "connectionCount", "queueCount", "exchangeCount"},
	"connection": {"id", "remote", "container", "user", "admin", "opened"},
	"store":      {"directory", "journalBytes", "messages", "syncedPosition", "recordsPerSync", "syncLatencyUs", "diskFull"},
}

func listObjects(typ string, show []string) command {
	return func(ctx context.Context, c *client.Client, out io.Writer) error {
		all, err := c.Query(ctx, typ, nil)
		if err != nil {
			return err
		}
		objects := all[:0]
		for _, o := range all {
			if o.Str("name") != c.ReplyTo() && o.Str("queue") != c.ReplyTo() {
				objects = append(objects, o)
			}
		}
		short := typ[strings.LastIndexByte(typ, ':')+1:]
		writeObjectList(out, typ, objects, show, defaultProperties[short])
		return nil
	}
}

// brokerOperation runs an operation of the broker object (reload-acl,
// log, shutdown); the broker answers 501 for those it does not have.
func brokerOperation(op string, args map[string]any, show func(io.Writer, any)) command {
	return func(ctx context.Context, c *client.Client, out io.Writer) error {
		r, err := c.Call(ctx, op, wire.TypeBroker, "", args)
		if err != nil {
			return err
		}
		if show != nil {
			show(out, r.Body)
		}
		return nil
	}
}

// withDefaultBindings adds the default exchange's implicit binding of every
// queue by its name, which the original listed with the others.
func withDefaultBindings(bindings, queues []client.Object) []client.Object {
	out := make([]client.Object, 0, len(bindings)+len(queues))
	for _, q := range queues {
		out = append(out, client.Object{"exchange": "", "queue": q.Str("name"), "key": q.Str("name")})
	}
	return append(out, bindings...)
}
