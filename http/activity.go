package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/auditlog/auditlog"
)

func (s *Server) handleRecordActivities(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, auditlog.MaxRequestBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		s.fail(w, r, auditlog.Errorf(auditlog.ETOOLARGE, "request body over the limit of %d bytes", auditlog.MaxRequestBytes))
		return
	}
	if err != nil {
		s.fail(w, r, auditlog.Errorf(auditlog.EINVALID, "reading the request body failed"))
		return
	}
	activities, batch, err := decodeActivities(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids, err := s.store.RecordActivities(r.Context(), principalFrom(r.Context()).Recorder(), activities)
	if err != nil {
		var e *auditlog.Error
		if errors.As(err, &e) && e.Field != "" {
			e = locate(e, batch)
			err = e
		}
		s.fail(w, r, err)
		return
	}
	s.metrics.recorded.Add(float64(len(ids)))
	writeJSON(w, http.StatusCreated, struct {
		IDs []int64 `json:"ids"`
	}{ids})
}

// locate names the field of a validation error as the request wrote it:
// "activities[3].username" in a batch, "username" for a single activity.
func locate(e *auditlog.Error, batch bool) *auditlog.Error {
	out := *e
	switch {
	case !batch:
		out.Index = -1
	case e.Index >= 0:
		out.Field = fmt.Sprintf("activities[%d].%s", e.Index, e.Field)
	}
	return &out
}

// decodeActivities reads a recording request: one activity object, or
// {"activities": [...]} holding up to auditlog.MaxBatch. Unknown keys are
// refused so that a misspelt field is never silently dropped. It reports
// whether the request was a batch.
func decodeActivities(body []byte) ([]auditlog.NewActivity, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false, auditlog.FieldErrorf("body", "the body must be a JSON object: one activity, or {\"activities\": [...]}")
	}
	if !dec.More() {
		return decodeSingle(body)
	}
	if key, err := dec.Token(); err != nil || key != "activities" {
		return decodeSingle(body)
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, true, auditlog.FieldErrorf("activities", "activities must be an array of activity objects")
	}
	var activities []auditlog.NewActivity
	for i := 0; dec.More(); i++ {
		if i == auditlog.MaxBatch {
			return nil, true, auditlog.FieldErrorf("activities", "more than %d activities in one request", auditlog.MaxBatch)
		}
		var a auditlog.NewActivity
		if err := dec.Decode(&a); err != nil {
			return nil, true, decodeError(err, fmt.Sprintf("activities[%d]", i), i)
		}
		activities = append(activities, a)
	}
	if _, err := dec.Token(); err != nil { // ]
		return nil, true, decodeError(err, "activities", -1)
	}
	if dec.More() {
		return nil, true, auditlog.FieldErrorf("activities", "activities must be the only key of a batch request")
	}
	if _, err := dec.Token(); err != nil { // }
		return nil, true, decodeError(err, "body", -1)
	}
	if err := expectEnd(dec); err != nil {
		return nil, true, err
	}
	if len(activities) == 0 {
		return nil, true, auditlog.FieldErrorf("activities", "activities must hold at least one activity")
	}
	return activities, true, nil
}

func decodeSingle(body []byte) ([]auditlog.NewActivity, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var a auditlog.NewActivity
	if err := dec.Decode(&a); err != nil {
		if strings.Contains(err.Error(), `unknown field "activities"`) {
			return nil, false, auditlog.FieldErrorf("activities", "activities must be the only key of a batch request")
		}
		return nil, false, decodeError(err, "", -1)
	}
	if err := expectEnd(dec); err != nil {
		return nil, false, err
	}
	return []auditlog.NewActivity{a}, false, nil
}

func expectEnd(dec *json.Decoder) error {
	if _, err := dec.Token(); err != io.EOF {
		return auditlog.FieldErrorf("body", "unexpected data after the JSON object")
	}
	return nil
}

// serverAssigned are keys of a returned activity that clients may not send.
var serverAssigned = map[string]string{
	"id":                            "the server assigns id",
	"created":                       "the server assigns created",
	"activity_display_name":         "activity_display_name comes from the catalogue; send activity_system_name only",
	"activity_subtype_display_name": "activity_subtype_display_name comes from the catalogue; send activity_subtype_system_name only",
	"recorded_by":                   "the server sets recorded_by to who records the activity (the token, or the logged-in user)",
}

// decodeError turns a JSON decoding error into an EINVALID error naming the
// field: prefix is the path of the object being decoded ("activities[3]").
func decodeError(err error, prefix string, index int) error {
	join := func(field string) string {
		switch {
		case prefix == "":
			return field
		case field == "":
			return prefix
		}
		return prefix + "." + field
	}
	var e *auditlog.Error
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		e = auditlog.FieldErrorf(join(typeErr.Field), "%s must be %s, not a JSON %s", join(typeErr.Field), jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		e = auditlog.FieldErrorf("body", "the body is not valid JSON (at byte %d): %v", syntaxErr.Offset, syntaxErr)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		msg, ok := serverAssigned[name]
		if !ok {
			msg = fmt.Sprintf("unknown field %q", name)
		}
		e = auditlog.FieldErrorf(join(name), "%s", msg)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		e = auditlog.FieldErrorf("body", "the body ends before the JSON is complete")
	default:
		e = auditlog.FieldErrorf(join(""), "cannot read %s: %v", join("body"), err)
	}
	e.Index = index
	return e
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int64", "float64":
		return "a number"
	case "bool":
		return "true or false"
	}
	return "of another type"
}

// checkActivityNames refuses a filter that names an activity type not in
// the catalogue (Filter.CheckNames).
func (s *Server) checkActivityNames(ctx context.Context, f auditlog.Filter) error {
	if len(f.Activities) == 0 && f.Search == nil {
		return nil
	}
	types, err := s.store.ActivityTypes(ctx)
	if err != nil {
		return err
	}
	return f.CheckNames(types)
}

func (s *Server) handleListActivities(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := auditlog.ParseFilter(q, auditlog.PagingParams...)
	if err == nil {
		err = auditlog.ParsePaging(q, &f)
	}
	if err == nil {
		err = s.checkActivityNames(r.Context(), f)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	activities, more, err := s.store.FindActivities(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var next *string
	if more {
		c := auditlog.EncodeCursor(activities[len(activities)-1].ID)
		next = &c
	}
	// A search says up to which activity its index was complete.
	var indexed *int64
	if f.Search != nil {
		st, err := s.store.SearchIndexed(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		indexed = &st.Through
	}
	writeJSON(w, http.StatusOK, struct {
		Activities           []auditlog.Activity `json:"activities"`
		NextCursor           *string             `json:"next_cursor"`
		SearchIndexedThrough *int64              `json:"search_indexed_through,omitempty"`
	}{activities, next, indexed})
}

func (s *Server) handleGetActivity(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		s.fail(w, r, auditlog.FieldErrorf("id", "the activity id must be a positive whole number"))
		return
	}
	a, err := s.store.FindActivityByID(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) handleListActivityTypes(w http.ResponseWriter, r *http.Request) {
	types, err := s.store.ActivityTypes(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		ActivityTypes []auditlog.ActivityType `json:"activity_types"`
	}{types})
}

// newActivityType is the body of POST /api/v1/activity-types.
type newActivityType struct {
	SystemName   string             `json:"system_name"`
	DisplayName  string             `json:"display_name"`
	Description  string             `json:"description"`
	IntroducedIn string             `json:"introduced_in"`
	Subtypes     []auditlog.Subtype `json:"subtypes"`
}

func (s *Server) handleCreateActivityType(w http.ResponseWriter, r *http.Request) {
	var in newActivityType
	if err := decodeBody(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.store.CreateActivityType(r.Context(), s.actor(r), auditlog.ActivityType{
		SystemName: in.SystemName, DisplayName: in.DisplayName, Description: in.Description,
		IntroducedIn: in.IntroducedIn, Subtypes: in.Subtypes,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, t)
}
