package http

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlog/auditlog"
)

type witnessJSON struct {
	Name      string    `json:"name"`
	Size      uint64    `json:"size"`
	LastError string    `json:"last_error"`
	Updated   time.Time `json:"updated"`
}

// handleWitnesses lists what the log knows of each witness.
func (s *Server) handleWitnesses(w http.ResponseWriter, r *http.Request) {
	states, err := s.store.WitnessStates(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]witnessJSON, len(states))
	for i, st := range states {
		out[i] = witnessJSON{Name: st.Witness, Size: st.Size, LastError: st.LastError, Updated: st.Updated.UTC()}
	}
	writeJSON(w, http.StatusOK, struct {
		Witnesses []witnessJSON `json:"witnesses"`
	}{out})
}

// handleWitnessesPage shows what the log knows of each witness.
func (s *Server) handleWitnessesPage(w http.ResponseWriter, r *http.Request) {
	states, err := s.store.WitnessStates(r.Context())
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	v := adminView(r, "Witnesses", "witnesses", nil)
	v.Page = struct{ Witnesses []auditlog.WitnessState }{states}
	s.render(w, r, http.StatusOK, "witnesses", v)
}

// witnessCollector reports each witness's state, read from the store at
// every scrape, so that every node reports the same.
type witnessCollector struct {
	store auditlog.WitnessService
	size  *prometheus.Desc
	fails *prometheus.Desc
}

func newWitnessCollector(store auditlog.WitnessService) *witnessCollector {
	return &witnessCollector{store: store,
		size:  prometheus.NewDesc("auditlog_witness_cosigned_size", "Size of the latest checkpoint each witness cosigned.", []string{"witness"}, nil),
		fails: prometheus.NewDesc("auditlog_witness_failing", "1 when the last submission to the witness failed.", []string{"witness"}, nil),
	}
}

func (c *witnessCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.size; ch <- c.fails }

func (c *witnessCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	states, err := c.store.WitnessStates(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.size, err)
		return
	}
	for _, st := range states {
		failing := 0.0
		if st.LastError != "" {
			failing = 1
		}
		ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(st.Size), st.Witness)
		ch <- prometheus.MustNewConstMetric(c.fails, prometheus.GaugeValue, failing, st.Witness)
	}
}
