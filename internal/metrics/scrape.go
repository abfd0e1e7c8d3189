package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Snapshot is one scrape of a metrics endpoint, as Prometheus's text
// format parses: the metric families by name.
type Snapshot map[string]*dto.MetricFamily

// Scrape reads the metrics at url (the text format).
func Scrape(ctx context.Context, url string) (Snapshot, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: %s: %s", url, resp.Status, b)
	}
	return Parse(resp.Body)
}

// Parse reads metrics in the text format.
func Parse(r io.Reader) (Snapshot, error) {
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	return Snapshot(fams), nil
}

// Names are the metric families' names, sorted.
func (s Snapshot) Names() []string {
	out := make([]string, 0, len(s))
	for n := range s {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Value is the value of the sample of metric name whose labels include
// those given as name, value pairs (the first that matches): a gauge's or
// counter's value, a histogram's sample count; false if there is none.
func (s Snapshot) Value(name string, labels ...string) (float64, bool) {
	f := s[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// Histogram is the sample count and sum of a histogram, and its count of
// samples at most le (the bucket's upper bound); false if there is none.
func (s Snapshot) Histogram(name string, le float64) (count uint64, sum float64, atMost uint64, ok bool) {
	f := s[name]
	if f == nil || len(f.GetMetric()) == 0 || f.GetMetric()[0].Histogram == nil {
		return 0, 0, 0, false
	}
	h := f.GetMetric()[0].Histogram
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == le {
			atMost = b.GetCumulativeCount()
		}
	}
	return h.GetSampleCount(), h.GetSampleSum(), atMost, true
}

// LabelValues are the values label takes in metric name's samples.
func (s Snapshot) LabelValues(name, label string) []string {
	var out []string
	for _, m := range s[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out = append(out, l.GetValue())
			}
		}
	}
	sort.Strings(out)
	return out
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// String lists the samples of the families whose names start with prefix,
// for test failures.
func (s Snapshot) String(prefix string) string {
	var b strings.Builder
	for _, n := range s.Names() {
		if !strings.HasPrefix(n, prefix) {
			continue
		}
		_, _ = expfmt.MetricFamilyToText(&b, s[n])
	}
	return b.String()
}
