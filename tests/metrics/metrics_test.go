// Package metrics tests the brokers' Prometheus endpoint end to end: real
// qpidd processes in an HA cluster scraped over HTTP, and the example
// alerting rules and Grafana dashboard in packaging/ checked against what
// they export.
package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	goamqp "github.com/Azure/go-amqp"
	dto "github.com/prometheus/client_model/go"

	"github.com/qpidha/qpidha/internal/metrics"
	"github.com/qpidha/qpidha/tests/qpiddtest"
)

func scrape(t *testing.T, url string) metrics.Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := metrics.Scrape(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func value(s metrics.Snapshot, name string, labels ...string) (float64, error) {
	v, ok := s.Value(name, labels...)
	if !ok {
		return 0, fmt.Errorf("no %s%v", name, labels)
	}
	return v, nil
}

// A two-broker cluster of real qpidd processes with metrics-port: the
// primary's and the backup's metrics follow the promotion and the messages
// sent; then the packaged dashboard and alerting rules are checked against
// the names both brokers export.
func TestMetricsOfARealCluster(t *testing.T) {
	ports := qpiddtest.FreePorts(t, 4)
	url := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d", ports[0], ports[1])
	var brokers []*qpiddtest.Broker
	var murls []string
	for i := 0; i < 2; i++ {
		brokers = append(brokers, qpiddtest.Start(t, "--port", strconv.Itoa(ports[i]), "--interface", "127.0.0.1",
			"--ha-cluster", "yes", "--ha-brokers-url", url, "--ha-replicate", "all", "--queue-patterns", ".*",
			"--link-maintenance-interval", "0.1", "--link-heartbeat-interval", "2",
			"--metrics-port", strconv.Itoa(ports[2+i])))
		murls = append(murls, fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2+i]))
	}
	for i, b := range brokers {
		qpiddtest.Eventually(t, 10*time.Second, func() error {
			if !strings.Contains(b.Log(), "metrics on "+murls[i]) {
				return fmt.Errorf("broker %d does not say where its metrics are:\n%s", i, b.Log())
			}
			return nil
		})
	}
	if v, err := value(scrape(t, murls[0]), "qpidha_ha_state", "state", "joining"); err != nil || v != 1 {
		t.Fatalf("before the promotion: joining = %v (%v)", v, err)
	}
	if err := qpiddtest.Promote(t, brokers[0]); err != nil {
		t.Fatal(err)
	}
	qpiddtest.Eventually(t, 30*time.Second, func() error {
		p, b := scrape(t, murls[0]), scrape(t, murls[1])
		if v, err := value(p, "qpidha_ha_state", "state", "active"); err != nil || v != 1 {
			return fmt.Errorf("primary: active = %v (%v)", v, err)
		}
		if v, err := value(p, "qpidha_ha_ready_backups"); err != nil || v != 1 {
			return fmt.Errorf("primary: ready set of %v (%v)", v, err)
		}
		if v, err := value(b, "qpidha_ha_state", "state", "ready"); err != nil || v != 1 {
			return fmt.Errorf("backup: ready = %v (%v)", v, err)
		}
		pe, _ := value(p, "qpidha_ha_epoch")
		be, _ := value(b, "qpidha_ha_epoch")
		if pe < 1 || pe != be {
			return fmt.Errorf("epochs: primary %v, backup %v", pe, be)
		}
		if v, _ := value(p, "qpidha_ha_promotions_total"); v != 1 {
			return fmt.Errorf("primary promoted %v times", v)
		}
		return nil
	})

	// Messages sent raise the enqueued counters, on the backup too.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := qpiddtest.Admin(t, brokers[0]).CreateQueue(ctx, "metered", map[string]any{"durable": true}); err != nil {
		t.Fatal(err)
	}
	conn, err := goamqp.Dial(ctx, brokers[0].URL(), &goamqp.ConnOptions{SASLType: goamqp.SASLTypeAnonymous()})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sess, err := conn.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	snd, err := sess.NewSender(ctx, "metered", nil)
	if err != nil {
		t.Fatal(err)
	}
	before := scrape(t, murls[0])
	guard0, _ := value(before, "qpidha_ha_guard_hold_seconds")
	for i := 0; i < 20; i++ {
		m := goamqp.NewMessage([]byte("m" + strconv.Itoa(i)))
		m.Header = &goamqp.MessageHeader{Durable: true}
		if err := snd.Send(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	var primary, backup metrics.Snapshot
	qpiddtest.Eventually(t, 20*time.Second, func() error {
		primary, backup = scrape(t, murls[0]), scrape(t, murls[1])
		for i, s := range []metrics.Snapshot{primary, backup} {
			if v, err := value(s, "qpidha_queue_enqueued_total", "queue", "metered"); err != nil || v != 20 {
				return fmt.Errorf("broker %d: metered enqueued %v (%v)", i, v, err)
			}
			if v, _ := value(s, "qpidha_store_messages"); v != 20 {
				return fmt.Errorf("broker %d stores %v messages", i, v)
			}
		}
		if v, _ := value(primary, "qpidha_ha_guard_hold_seconds"); v < guard0+20 {
			return fmt.Errorf("the guard's histogram counts %v messages, %v before 20 were sent", v, guard0)
		}
		if got := primary.LabelValues("qpidha_ha_backup_lag_messages", "backup"); len(got) != 1 {
			return fmt.Errorf("lag series for backups %v", got)
		}
		if v, _ := value(primary, "qpidha_ha_backup_lag_messages"); v != 0 {
			return fmt.Errorf("the backup lags %v messages at rest", v)
		}
		if v, _ := value(primary, "qpidha_connections"); v < 2 { // the client and the backup
			return fmt.Errorf("%v connections on the primary", v)
		}
		return nil
	})

	exported := exportedNames(primary, backup)
	t.Run("dashboard", func(t *testing.T) { checkDashboard(t, exported) })
	t.Run("alerts", func(t *testing.T) { checkAlertNames(t, exported) })
}

// exportedNames are the sample names the brokers export: each family's
// name, and for histograms its _bucket, _sum and _count series.
func exportedNames(snaps ...metrics.Snapshot) map[string]bool {
	out := map[string]bool{}
	for _, s := range snaps {
		for name, f := range s {
			if f.GetType() == dto.MetricType_HISTOGRAM {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					out[name+suffix] = true
				}
				continue
			}
			out[name] = true
		}
	}
	return out
}

// metricName finds the names of metrics in PromQL: ours, and the Go
// runtime's and the process's.
var metricName = regexp.MustCompile(`\b(?:qpidha|go|process)_[a-zA-Z0-9_]+`)

// panel is what the test reads of a Grafana panel.
type panel struct {
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"` // a collapsed row's
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

func checkDashboard(t *testing.T, exported map[string]bool) {
	b, err := os.ReadFile(filepath.Join(qpiddtest.Root(), "packaging", "grafana", "qpidha-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title      string  `json:"title"`
		UID        string  `json:"uid"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name string `json:"name"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) == 0 {
		t.Fatalf("dashboard title %q, uid %q, %d panels", dash.Title, dash.UID, len(dash.Panels))
	}
	vars := map[string]bool{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = true
	}
	used := map[string]bool{}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q queries nothing", p.Title)
			}
			for _, tg := range p.Targets {
				names := metricName.FindAllString(tg.Expr, -1)
				if len(names) == 0 {
					t.Errorf("panel %q: %q names no metric", p.Title, tg.Expr)
				}
				for _, n := range names {
					used[n] = true
					if !exported[n] {
						t.Errorf("panel %q: %s is not exported by the brokers (expr %q)", p.Title, n, tg.Expr)
					}
				}
				for _, v := range regexp.MustCompile(`\$([a-z_]+)`).FindAllStringSubmatch(tg.Expr, -1) {
					if !vars[v[1]] && !strings.HasPrefix(v[1], "__") {
						t.Errorf("panel %q: variable $%s is not defined", p.Title, v[1])
					}
				}
			}
		}
	}
	walk(dash.Panels)
	// Every metric of ours is on the dashboard.
	var missing []string
	for n := range exported {
		if !strings.HasPrefix(n, "qpidha_") {
			continue
		}
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")
		if !used[n] && !used[base+"_bucket"] && !used[base+"_count"] && !used[base+"_sum"] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("metrics the dashboard does not show: %v", missing)
	}
}

func checkAlertNames(t *testing.T, exported map[string]bool) {
	b, err := os.ReadFile(filepath.Join(qpiddtest.Root(), "packaging", "prometheus", "qpidha-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		expr, ok := strings.CutPrefix(strings.TrimSpace(line), "expr:")
		if !ok {
			continue
		}
		n++
		for _, name := range metricName.FindAllString(expr, -1) {
			if !exported[name] {
				t.Errorf("alert expression %q: %s is not exported by the brokers", strings.TrimSpace(expr), name)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alert expressions found")
	}
}

// promtool (Debian's prometheus package; scripts/setup.sh installs it)
// checks the alerting rules and runs their unit tests
// (qpidha-alerts.test.yml): each alert fires on the series that should
// fire it, and not before.
func TestAlertRulesPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed (Debian package prometheus; scripts/setup.sh test installs it)")
	}
	dir := filepath.Join(qpiddtest.Root(), "packaging", "prometheus")
	for _, args := range [][]string{{"check", "rules", "qpidha-alerts.yml"}, {"test", "rules", "qpidha-alerts.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
