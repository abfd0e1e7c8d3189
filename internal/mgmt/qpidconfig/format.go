package qpidconfig

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/qpidha/qpidha/internal/mgmt/client"
)

// specialArgs are shown as their own options in queue lists; other
// arguments are shown as --argument NAME=VALUE. Arguments that are
// attributes of the queue itself (durable, ...) are not repeated.
var specialArgs = []string{
	argFileCount, argFileSize, argEFPPartitionNum, argEFPPoolFileSize, argWCachePageSize, argWCacheNumPages,
	argMaxQueueSize, argMaxQueueCount, argPolicyType, argLVQKey, argMsgSequence, argIVE,
	argFlowStopCount, argFlowResumeCount, argFlowStopSize, argFlowResumeSize,
	argGroupHeader, argSharedGroups, argReplicate,
	"durable", "auto-delete", "auto_delete", "exclusive", "alternate-exchange",
}

// format renders a value the way the tables show it.
func format(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05")
	case map[string]any:
		return formatMap(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = repr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// repr quotes strings, as the original's Python dictionaries printed.
func repr(v any) string {
	switch x := v.(type) {
	case string:
		return "'" + x + "'"
	}
	return format(v)
}

// formatMap is a map with sorted keys: {'a': '1', 'x-match': 'all'}.
func formatMap(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = repr(k) + ": " + repr(m[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func match(name, filter string) bool { return filter == "" || strings.Contains(name, filter) }

// writeOverview is the summary printed without a command.
func writeOverview(w io.Writer, exchanges, queues []client.Object) {
	fmt.Fprintf(w, "Total Exchanges: %d\n", len(exchanges))
	count := map[string]int{}
	var kinds []string
	for _, x := range exchanges {
		k := x.Str("type")
		if count[k] == 0 {
			kinds = append(kinds, k)
		}
		count[k]++
	}
	order := map[string]int{"direct": 1, "topic": 2, "fanout": 3, "headers": 4}
	sort.Slice(kinds, func(i, j int) bool {
		oi, oj := order[kinds[i]], order[kinds[j]]
		if oi == 0 {
			oi = 99
		}
		if oj == 0 {
			oj = 99
		}
		return oi < oj || oi == oj && kinds[i] < kinds[j]
	})
	for _, k := range kinds {
		fmt.Fprintf(w, "%15s: %d\n", k, count[k])
	}
	durable := 0
	for _, q := range queues {
		if q.Bool("durable") {
			durable++
		}
	}
	fmt.Fprintf(w, "\n   Total Queues: %d\n", len(queues))
	fmt.Fprintf(w, "        durable: %d\n", durable)
	fmt.Fprintf(w, "    non-durable: %d\n", len(queues)-durable)
}

// row prints a padded lead column and attributes, each after a space, the
// way the original's print statements did, without trailing blanks.
func row(w io.Writer, lead string, attrs []string) {
	line := lead
	for _, a := range attrs {
		if a != "" {
			line += " " + a
		}
	}
	fmt.Fprintln(w, strings.TrimRight(line, " "))
}

// writeExchanges is the exchanges table; false when no exchange matches.
func writeExchanges(w io.Writer, exchanges []client.Object, filter string, ignoreDefault bool) bool {
	const caption1, caption2 = "Type      ", "Exchange Name"
	width := len(caption2)
	found := false
	for _, x := range exchanges {
		if name := x.Str("name"); match(name, filter) {
			width = max(width, len(name))
			found = true
		}
	}
	if !found {
		return false
	}
	fmt.Fprintf(w, "%s%-*s  Attributes\n", caption1, width, caption2)
	fmt.Fprintln(w, strings.Repeat("=====", (width+len(caption1))/5+5))
	for _, x := range exchanges {
		name := x.Str("name")
		if ignoreDefault && name == "" || !match(name, filter) {
			continue
		}
		args := x.Map("arguments")
		var attrs []string
		if x.Bool("durable") {
			attrs = append(attrs, "--durable")
		}
		if v, ok := args[argReplicate]; ok {
			attrs = append(attrs, "--replicate="+format(v))
		}
		if truthy(args[argMsgSequence]) {
			attrs = append(attrs, "--sequence")
		}
		if truthy(args[argIVE]) {
			attrs = append(attrs, "--ive")
		}
		if alt := x.Str("alternateExchange"); alt != "" {
			attrs = append(attrs, "--alternate-exchange="+alt)
		}
		attrs = append(attrs, otherArguments(args, []string{argReplicate, argMsgSequence, argIVE, "durable", "auto-delete", "alternate-exchange"}))
		row(w, fmt.Sprintf("%-10s%-*s ", x.Str("type"), width, name), attrs)
	}
	return true
}

func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != "" && x != "0" && x != "false"
	}
	return format(v) != "0"
}

// otherArguments shows the arguments without options of their own.
func otherArguments(args map[string]any, special []string) string {
	keys := make([]string, 0, len(args))
	for k := range args {
		if !contains(special, k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = "--argument " + k + "=" + format(args[k])
	}
	return strings.Join(parts, " ")
}

// writeQueues is the queues table; false when no queue matches.
func writeQueues(w io.Writer, queues []client.Object, filter string) bool {
	const caption = "Queue Name"
	width := len(caption)
	found := false
	for _, q := range queues {
		if name := q.Str("name"); match(name, filter) {
			width = max(width, len(name))
			found = true
		}
	}
	if !found {
		return false
	}
	fmt.Fprintf(w, "%-*s  Attributes\n", width, caption)
	fmt.Fprintln(w, strings.Repeat("=====", width/5+5))
	for _, q := range queues {
		name := q.Str("name")
		if !match(name, filter) {
			continue
		}
		args := q.Map("arguments")
		var attrs []string
		add := func(s string) { attrs = append(attrs, s) }
		opt := func(arg, option string) {
			if v, ok := args[arg]; ok {
				add("--" + option + "=" + format(v))
			}
		}
		if q.Bool("durable") {
			add("--durable")
		}
		opt(argReplicate, "replicate")
		if q.Bool("autoDelete") {
			add("auto-del")
		}
		if q.Bool("exclusive") {
			add("excl")
		}
		opt(argFileSize, "file-size")
		opt(argFileCount, "file-count")
		opt(argEFPPartitionNum, "efp-partition-num")
		opt(argEFPPoolFileSize, "efp-pool-file-size")
		opt(argWCachePageSize, "wcache-page-size")
		opt(argWCacheNumPages, "wcache-num-pages")
		opt(argMaxQueueSize, "max-queue-size")
		opt(argMaxQueueCount, "max-queue-count")
		if v, ok := args[argPolicyType]; ok {
			add("--limit-policy=" + strings.ReplaceAll(format(v), "_", "-"))
		}
		opt(argLVQKey, "lvq-key")
		if alt := q.Str("alternateExchange"); alt != "" {
			add("--alternate-exchange=" + alt)
		}
		opt(argFlowStopSize, "flow-stop-size")
		opt(argFlowResumeSize, "flow-resume-size")
		opt(argFlowStopCount, "flow-stop-count")
		opt(argFlowResumeCount, "flow-resume-count")
		opt(argGroupHeader, "group-header")
		if truthy(args[argSharedGroups]) {
			add("--shared-groups")
		}
		add(otherArguments(args, specialArgs))
		row(w, fmt.Sprintf("%-*s ", width, name), attrs)
	}
	return true
}

// bindingLine is one "bind [key] => target {args}" line.
func bindingLine(w io.Writer, key, target string, args map[string]any) {
	if len(args) > 0 {
		fmt.Fprintf(w, "    bind [%s] => %s %s\n", key, target, formatMap(args))
	} else {
		fmt.Fprintf(w, "    bind [%s] => %s\n", key, target)
	}
}

// writeExchangesRecursive lists each exchange with its bindings (-r).
func writeExchangesRecursive(w io.Writer, exchanges, bindings []client.Object, filter string, ignoreDefault bool) {
	for _, x := range exchanges {
		name := x.Str("name")
		if ignoreDefault && name == "" || !match(name, filter) {
			continue
		}
		fmt.Fprintf(w, "Exchange '%s' (%s)\n", name, x.Str("type"))
		for _, b := range bindings {
			if b.Str("exchange") == name {
				bindingLine(w, b.Str("key"), b.Str("queue"), b.Map("arguments"))
			}
		}
	}
}

// writeQueuesRecursive lists each queue with its bindings (-r).
func writeQueuesRecursive(w io.Writer, queues, bindings []client.Object, filter string, ignoreDefault bool) {
	for _, q := range queues {
		name := q.Str("name")
		if !match(name, filter) {
			continue
		}
		fmt.Fprintf(w, "Queue '%s'\n", name)
		for _, b := range bindings {
			if b.Str("queue") != name {
				continue
			}
			x := b.Str("exchange")
			if x == "" {
				if ignoreDefault {
					continue
				}
				x = "''"
			}
			bindingLine(w, b.Str("key"), x, b.Map("arguments"))
		}
	}
}

// writeObjectList is the list command: a table of the chosen properties.
func writeObjectList(w io.Writer, typ string, objects []client.Object, show, defaults []string) {
	var attributes []string
	for _, o := range objects {
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if contains(attributes, k) {
				continue
			}
			if k == "name" {
				attributes = append([]string{k}, attributes...)
			} else {
				attributes = append(attributes, k)
			}
		}
	}
	var desired []string
	switch {
	case len(show) > 0:
		for _, p := range show {
			if contains(attributes, p) {
				desired = append(desired, p)
			} else {
				fmt.Fprintf(w, "Warning: No such property '%s' for type '%s'\n", p, typ)
			}
		}
	case defaults != nil:
		desired = defaults
	default:
		desired = attributes[:min(6, len(attributes))]
	}
	rows := make([][]string, len(objects))
	for i, o := range objects {
		for _, a := range desired {
			v, ok := o[a]
			if !ok {
				rows[i] = append(rows[i], "n/a")
				continue
			}
			rows[i] = append(rows[i], format(v))
		}
	}
	writeTable(w, fmt.Sprintf("Objects of type '%s'", typ), desired, rows)
}

// writeTable prints a title, then, if there are rows, a table with columns
// as wide as their widest cell plus two, a line of "=", and the rows
// (the original's Display.table with prefix "  ").
func writeTable(w io.Writer, title string, heads []string, rows [][]string) {
	fmt.Fprintln(w, title)
	if len(rows) == 0 {
		return
	}
	const prefix, spacing = "  ", 2
	widths := make([]int, len(heads))
	for i, h := range heads {
		widths[i] = len(h)
		for _, r := range rows {
			if i < len(r) {
				widths[i] = max(widths[i], len([]rune(r[i])))
			}
		}
		widths[i] += spacing
	}
	line := func(cells []string) string {
		var b strings.Builder
		b.WriteString(prefix)
		for i := range heads {
			cell := ""
			if i < len(cells) {
				cell = cells[i]
			}
			b.WriteString(cell)
			if i < len(heads)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-len([]rune(cell))))
			}
		}
		return strings.TrimRight(b.String(), " ")
	}
	fmt.Fprintln(w, line(heads))
	total := 0
	for _, n := range widths {
		total += n
	}
	sep := prefix + strings.Repeat("=", total)
	if len(sep) > 255 {
		sep = sep[:255]
	}
	fmt.Fprintln(w, sep)
	for _, r := range rows {
		fmt.Fprintln(w, line(r))
	}
}
