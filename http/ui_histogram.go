package http

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/auditlog/auditlog"
)

// The Audit Log's histogram: activities over time for the page's filters,
// human and machine stacked, drawn as SVG on the server so that it needs no
// script. Each bar links to the page narrowed to its interval.

// maxBars bounds the histogram's bars, and so the store's counting queries.
const maxBars = 60

// barWidths are the intervals a bar may cover, shortest first; the
// histogram takes the shortest that spans the matches in maxBars bars.
var barWidths = []struct {
	d    time.Duration
	days int // whole days: aligned to midnight in the viewer's zone
	name string
}{
	{time.Minute, 0, "1 minute"}, {5 * time.Minute, 0, "5 minutes"}, {15 * time.Minute, 0, "15 minutes"},
	{time.Hour, 0, "1 hour"}, {3 * time.Hour, 0, "3 hours"}, {6 * time.Hour, 0, "6 hours"},
	{12 * time.Hour, 0, "12 hours"}, {24 * time.Hour, 1, "1 day"}, {7 * 24 * time.Hour, 7, "1 week"},
	{30 * 24 * time.Hour, 30, "30 days"}, {365 * 24 * time.Hour, 365, "365 days"},
}

// The SVG's drawing area, in its own units (it scales to the page's width).
const (
	chartWidth  = 960
	chartHeight = 140
	chartTop    = 12
	chartAxis   = 18 // below the bars, for the time labels
)

type histogram struct {
	Total          int64
	Human, Machine int64
	Max            int64
	BarName        string
	From, To       time.Time
	Bars           []histogramBar
	Labels         []histogramLabel
	Width, Height  int
	Baseline       int
}

type histogramBar struct {
	X, Width                float64
	HumanY, HumanHeight     float64
	MachineY, MachineHeight float64
	Human, Machine          int64
	Start, End              time.Time
	Href                    string
}

type histogramLabel struct {
	X    float64
	Text string
}

// buildHistogram counts the matches of f over time, over f's date range
// when it has one; nil when none match.
// filters are the page's filter parameters, which the bars' links narrow.
func (s *Server) buildHistogram(r *http.Request, f auditlog.Filter, filters url.Values, zone *time.Location) (*histogram, error) {
	ctx := r.Context()
	f.BeforeID, f.Limit = 0, 1
	f.OldestFirst = false
	newest, _, err := s.store.FindActivities(ctx, f)
	if err != nil || len(newest) == 0 {
		return nil, err
	}
	f.OldestFirst = true
	oldest, _, err := s.store.FindActivities(ctx, f)
	if err != nil || len(oldest) == 0 {
		return nil, err
	}
	// A chosen date range is drawn whole (up to now), so that quiet
	// stretches at its ends show as such; otherwise the matches' own span.
	from, to := oldest[0].Created, newest[0].Created
	if !f.CreatedFrom.IsZero() {
		from = f.CreatedFrom
	}
	if end := f.CreatedTo; !end.IsZero() {
		if now := s.now(); now.Before(end) {
			end = now
		}
		if end.After(to) {
			to = end
		}
	}
	bounds, name, days := histogramBounds(from, to, zone)
	counts, err := s.store.CountActivitiesOverTime(ctx, f, bounds)
	if err != nil {
		return nil, err
	}
	h := &histogram{BarName: name, From: bounds[0], To: bounds[len(bounds)-1],
		Width: chartWidth, Height: chartTop + chartHeight + chartAxis, Baseline: chartTop + chartHeight}
	for _, c := range counts {
		h.Human += c.Human
		h.Machine += c.Machine
		h.Max = max(h.Max, c.Total())
	}
	h.Total = h.Human + h.Machine
	slot := float64(chartWidth) / float64(len(counts))
	scale := float64(chartHeight) / float64(max(h.Max, 1))
	for i, c := range counts {
		b := histogramBar{X: float64(i)*slot + 1, Width: max(slot-2, 1), Human: c.Human, Machine: c.Machine,
			Start: bounds[i], End: bounds[i+1]}
		b.HumanHeight = float64(c.Human) * scale
		b.MachineHeight = float64(c.Machine) * scale
		b.HumanY = float64(chartTop+chartHeight) - b.HumanHeight
		b.MachineY = b.HumanY - b.MachineHeight
		b.Href = "/admin/audit-log?" + narrowTo(filters, b.Start, b.End, days, zone).Encode()
		h.Bars = append(h.Bars, b)
	}
	layout := "Jan 2 15:04"
	if days > 0 {
		layout = "Jan 2"
	}
	if bounds[len(bounds)-1].Sub(bounds[0]) > 300*24*time.Hour {
		layout = "Jan 2 2006"
	}
	step := max(len(counts)/6, 1)
	// Labels start at their bar; none so close to the right edge that it
	// would be cut off.
	for i := 0; i < len(counts) && float64(i)*slot < chartWidth-80; i += step {
		h.Labels = append(h.Labels, histogramLabel{X: float64(i) * slot, Text: bounds[i].In(zone).Format(layout)})
	}
	return h, nil
}

// histogramBounds divides [from, to] into at most maxBars intervals of
// the shortest width that fits, aligned in zone. It returns the bounds
// (the last after to), the width's name and the width in whole days (0
// for a shorter width).
func histogramBounds(from, to time.Time, zone *time.Location) ([]time.Time, string, int) {
	span := to.Sub(from)
	w := barWidths[len(barWidths)-1]
	for _, c := range barWidths {
		if span < time.Duration(maxBars-1)*c.d {
			w = c
			break
		}
	}
	next := func(t time.Time) time.Time { return t.Add(w.d) }
	start := from.Truncate(w.d)
	if w.days > 0 {
		y, m, d := from.In(zone).Date()
		start = time.Date(y, m, d, 0, 0, 0, 0, zone)
		next = func(t time.Time) time.Time { return t.AddDate(0, 0, w.days) }
	}
	bounds := []time.Time{start}
	for t := start; !t.After(to); {
		t = next(t)
		bounds = append(bounds, t)
	}
	return bounds, w.name, w.days
}

// narrowTo is filters with the date range replaced by [start, end): whole
// days as dates in zone, shorter intervals as RFC 3339 times.
func narrowTo(filters url.Values, start, end time.Time, days int, zone *time.Location) url.Values {
	q := maps.Clone(filters) // Set and Del replace whole entries: the shared slices stay as they are
	q.Del("created_on")
	if days > 0 {
		q.Set("created_from", start.In(zone).Format(time.DateOnly))
		q.Set("created_to", end.In(zone).AddDate(0, 0, -1).Format(time.DateOnly))
		if zone != time.UTC {
			q.Set("tz", zone.String())
		}
		return q
	}
	q.Set("created_from", start.UTC().Format(time.RFC3339))
	q.Set("created_to", end.Add(-time.Microsecond).UTC().Format(auditlog.CreatedLayout))
	return q
}

// Title describes the bar for its tooltip and for screen readers.
func (b histogramBar) Title(zone *time.Location) string {
	return fmt.Sprintf("%s to %s: %s human, %s machine", b.Start.In(zone).Format("2006-01-02 15:04"),
		b.End.In(zone).Format("2006-01-02 15:04 MST"), strconv.FormatInt(b.Human, 10), strconv.FormatInt(b.Machine, 10))
}
