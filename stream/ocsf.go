package stream

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/auditlog/auditlog"
)

// ocsfVersion is the version of the Open Cybersecurity Schema Framework
// that the ocsf format follows, each activity as one OCSF event: the
// events' metadata.version. docs/ocsf.md has the mapping and the schema's
// pages it follows.
const ocsfVersion = "1.3.0"

// The classes activities map to: class_uid (category_uid is class_uid / 1000).
const (
	ocsfAccountChange    = 3001
	ocsfAuthentication   = 3002
	ocsfEntityManagement = 3004
	ocsfGroupManagement  = 3006
	ocsfAPIActivity      = 6003
)

// The activity_id values used, by class.
const (
	ocsfOther = 99 // of every class: not mapped, activity_name says what

	ocsfLogon  = 1 // Authentication
	ocsfLogoff = 2

	ocsfAccountCreate         = 1 // Account Change
	ocsfAccountEnable         = 2
	ocsfAccountPasswordChange = 3
	ocsfAccountPasswordReset  = 4
	ocsfAccountDisable        = 5
	ocsfAccountDelete         = 6

	ocsfGroupAssignPrivileges = 1 // Group Management
	ocsfGroupRevokePrivileges = 2
	ocsfGroupDelete           = 5
	ocsfGroupCreate           = 6

	ocsfCreate = 1 // Entity Management and API Activity
	ocsfRead   = 2
	ocsfUpdate = 3
	ocsfDelete = 4
)

// The severity_id, status_id and user type_id values used.
const (
	ocsfInformational  = 1
	ocsfLow            = 2
	ocsfSuccess        = 1
	ocsfFailure        = 2
	ocsfUserTypeUser   = 1
	ocsfUserTypeSystem = 3
)

// ocsfVerbs are the CRUD activities the first word of a system name
// means. All but the reads change an object; a restoration changes one
// without a CRUD activity of its own.
var ocsfVerbs = map[string]int{
	"CREATE": ocsfCreate, "ADD": ocsfCreate,
	"READ": ocsfRead, "GET": ocsfRead, "DOWNLOAD": ocsfRead,
	"EDIT": ocsfUpdate, "UPDATE": ocsfUpdate, "CHANGE": ocsfUpdate,
	"DELETE": ocsfDelete, "REMOVE": ocsfDelete,
	"RESTORE": ocsfOther,
}

// ocsfEvent is an OCSF event: the base event's attributes and those of
// the five classes that are used.
type ocsfEvent struct {
	ClassUID     int              `json:"class_uid"`
	CategoryUID  int              `json:"category_uid"`
	ActivityID   int              `json:"activity_id"`
	ActivityName string           `json:"activity_name,omitempty"`
	TypeUID      int              `json:"type_uid"`
	SeverityID   int              `json:"severity_id"`
	StatusID     int              `json:"status_id"`
	Time         int64            `json:"time"`
	Message      string           `json:"message,omitempty"`
	Metadata     ocsfMetadata     `json:"metadata"`
	Actor        ocsfActor        `json:"actor"`
	SrcEndpoint  *ocsfEndpoint    `json:"src_endpoint,omitempty"`
	HTTPRequest  *ocsfHTTPRequest `json:"http_request,omitempty"`
	User         *ocsfUser        `json:"user,omitempty"`
	Group        *ocsfGroup       `json:"group,omitempty"`
	Privileges   []string         `json:"privileges,omitempty"`
	Entity       *ocsfEntity      `json:"entity,omitempty"`
	API          *ocsfAPI         `json:"api,omitempty"`
	// Unmapped holds the activity's fields that have no OCSF attribute,
	// under their names in the activity's JSON form.
	Unmapped map[string]any `json:"unmapped,omitempty"`
}

type ocsfMetadata struct {
	UID          string      `json:"uid"`
	Version      string      `json:"version"`
	Product      ocsfProduct `json:"product"`
	EventCode    string      `json:"event_code,omitempty"`
	OriginalTime string      `json:"original_time"`
}

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
}

type ocsfActor struct {
	User ocsfUser `json:"user"`
}

type ocsfUser struct {
	UID    string `json:"uid,omitempty"`
	Name   string `json:"name,omitempty"`
	Type   string `json:"type,omitempty"`
	TypeID int    `json:"type_id,omitempty"`
}

type ocsfGroup struct {
	UID  string `json:"uid,omitempty"`
	Name string `json:"name,omitempty"`
}

// ocsfEntity is a managed_entity.
type ocsfEntity struct {
	UID    string `json:"uid,omitempty"`
	Name   string `json:"name,omitempty"`
	Type   string `json:"type,omitempty"`
	TypeID int    `json:"type_id,omitempty"`
}

type ocsfAPI struct {
	Operation string `json:"operation"`
}

// ocsfEndpoint is a network_endpoint.
type ocsfEndpoint struct {
	IP string `json:"ip"`
}

type ocsfHTTPRequest struct {
	UserAgent string `json:"user_agent"`
}

// encodeOCSF is activity a as an OCSF event.
func encodeOCSF(a auditlog.Activity) (json.RawMessage, error) {
	e := ocsfBase(a)
	switch {
	case strings.Contains(a.SystemName, "LOGIN") || strings.Contains(a.SystemName, "LOGOUT"):
		e.authentication(a)
	case !ocsfChanges(a):
		e.apiActivity(a)
	case a.ObjectType == auditlog.ObjectTypeUser:
		e.accountChange(a)
	case a.ObjectType == auditlog.ObjectTypePermissionGroup:
		e.groupManagement(a)
	default:
		e.entityManagement(a)
	}
	if e.ActivityID == ocsfOther {
		e.ActivityName = a.DisplayName
	}
	return auditlog.EncodeJSON(e)
}

// ocsfBase is the event of a without its class: the attributes every
// class has.
func ocsfBase(a auditlog.Activity) ocsfEvent {
	e := ocsfEvent{
		SeverityID: ocsfInformational,
		StatusID:   ocsfSuccess,
		Time:       a.Created.UnixMilli(),
		Message:    a.DisplayName,
		Metadata: ocsfMetadata{
			UID:          strconv.FormatInt(a.ID, 10),
			Version:      ocsfVersion,
			Product:      ocsfProduct{Name: "auditlog", VendorName: "auditlog"},
			EventCode:    a.SystemName,
			OriginalTime: a.Created.UTC().Format(auditlog.CreatedLayout),
		},
		Actor:    ocsfActor{User: ocsfActorUser(a)},
		Unmapped: ocsfUnmapped(a),
	}
	if strings.HasSuffix(a.SystemName, "_FAILED") || strings.HasSuffix(a.SystemName, "_FAILURE") {
		e.SeverityID, e.StatusID = ocsfLow, ocsfFailure
	}
	e.client(a.Extra)
	return e
}

// ocsfActorUser is the user who performed a: a person, or the machine.
func ocsfActorUser(a auditlog.Activity) ocsfUser {
	if a.Operator != auditlog.OperatorMachine {
		return ocsfUser{Name: a.Username, Type: "User", TypeID: ocsfUserTypeUser}
	}
	name := a.Username
	if name == "" {
		name = string(auditlog.OperatorMachine)
	}
	return ocsfUser{Name: name, Type: "System", TypeID: ocsfUserTypeSystem}
}

// ocsfUnmapped is what of a no class has an attribute for.
func ocsfUnmapped(a auditlog.Activity) map[string]any {
	u := map[string]any{}
	if len(a.Extra) > 0 && string(a.Extra) != "{}" {
		u["extra"] = a.Extra
	}
	if len(a.Changes) > 0 {
		u["object_column_changes"] = a.Changes
	}
	if a.SubtypeSystemName != "" {
		u["activity_subtype_system_name"] = a.SubtypeSystemName
		u["activity_subtype_display_name"] = a.SubtypeDisplayName
	}
	if a.RecordedBy != "" {
		u["recorded_by"] = a.RecordedBy
	}
	return u
}

// client maps what the service's own activities keep of the client in
// extra (see auditlog.Actor.Client) to its OCSF attributes; extra keeps
// it too.
func (e *ocsfEvent) client(extra json.RawMessage) {
	var c struct {
		Address   string `json:"client_address"`
		UserAgent string `json:"user_agent"`
	}
	json.Unmarshal(extra, &c) // a key of another type leaves its field empty
	if ip, err := netip.ParseAddr(c.Address); err == nil {
		e.SrcEndpoint = &ocsfEndpoint{IP: ip.String()}
	}
	if c.UserAgent != "" {
		e.HTTPRequest = &ocsfHTTPRequest{UserAgent: c.UserAgent}
	}
}

// unmapObject keeps a's object in unmapped, where the class has no
// attribute for it.
func (e *ocsfEvent) unmapObject(a auditlog.Activity) {
	for k, v := range map[string]string{"object_id": a.ObjectID, "object_type": a.ObjectType, "object_name": a.ObjectName} {
		if v != "" {
			e.Unmapped[k] = v
		}
	}
}

// classify sets the event's class and activity.
func (e *ocsfEvent) classify(class, activity int) {
	e.ClassUID, e.CategoryUID, e.ActivityID = class, class/1000, activity
	e.TypeUID = class*100 + activity
}

// authentication makes e a logon or logoff of the user a's object names
// (of the actor when its object is not a user).
func (e *ocsfEvent) authentication(a auditlog.Activity) {
	activity := ocsfLogon
	if strings.Contains(a.SystemName, "LOGOUT") {
		activity = ocsfLogoff
	}
	e.classify(ocsfAuthentication, activity)
	if a.ObjectType == auditlog.ObjectTypeUser {
		e.User = &ocsfUser{UID: a.ObjectID, Name: a.ObjectName}
		return
	}
	e.User = &ocsfUser{Name: a.Username}
	e.unmapObject(a)
}

// accountChange makes e a change of the user that is a's object.
func (e *ocsfEvent) accountChange(a auditlog.Activity) {
	e.classify(ocsfAccountChange, ocsfAccountActivity(a))
	e.User = &ocsfUser{UID: a.ObjectID, Name: a.ObjectName}
}

// ocsfAccountActivity is the Account Change activity of a: the verb's
// creation or deletion, else a change of the password (by the user: a
// password change; by another: a reset), else of disabled.
func ocsfAccountActivity(a auditlog.Activity) int {
	switch verb, _ := ocsfVerb(a.SystemName); verb {
	case ocsfCreate:
		return ocsfAccountCreate
	case ocsfDelete:
		return ocsfAccountDelete
	}
	if _, ok := ocsfChange(a, "password"); ok {
		if a.Username != "" && a.Username == a.ObjectName {
			return ocsfAccountPasswordChange
		}
		return ocsfAccountPasswordReset
	}
	switch c, _ := ocsfChange(a, "disabled"); c.NewValue {
	case "true":
		return ocsfAccountDisable
	case "false":
		return ocsfAccountEnable
	}
	return ocsfOther
}

// groupManagement makes e a change of the permission group that is a's
// object.
func (e *ocsfEvent) groupManagement(a auditlog.Activity) {
	activity, privileges := ocsfGroupActivity(a)
	e.classify(ocsfGroupManagement, activity)
	e.Group = &ocsfGroup{UID: a.ObjectID, Name: a.ObjectName}
	e.Privileges = privileges
}

// ocsfGroupActivity is the Group Management activity of a and the
// privileges it assigns or revokes: the verb's creation or deletion, else
// the change of the group's permissions when it only adds or only removes.
func ocsfGroupActivity(a auditlog.Activity) (int, []string) {
	c, _ := ocsfChange(a, "permissions")
	before, after := strings.Split(c.OldValue, ","), strings.Split(c.NewValue, ",")
	added, removed := missing(after, before), missing(before, after)
	verb, _ := ocsfVerb(a.SystemName)
	switch {
	case verb == ocsfCreate:
		return ocsfGroupCreate, added
	case verb == ocsfDelete:
		return ocsfGroupDelete, removed
	case len(added) > 0 && len(removed) == 0:
		return ocsfGroupAssignPrivileges, added
	case len(removed) > 0 && len(added) == 0:
		return ocsfGroupRevokePrivileges, removed
	}
	return ocsfOther, nil
}

// entityManagement makes e a change of a's object, of any other type.
func (e *ocsfEvent) entityManagement(a auditlog.Activity) {
	verb, _ := ocsfVerb(a.SystemName)
	e.classify(ocsfEntityManagement, verb)
	e.Entity = &ocsfEntity{UID: a.ObjectID, Name: a.ObjectName}
	if a.ObjectType != "" { // a type of its own, not of OCSF's list
		e.Entity.Type, e.Entity.TypeID = a.ObjectType, ocsfOther
	}
}

// apiActivity makes e the call of an operation, which changes no object.
func (e *ocsfEvent) apiActivity(a auditlog.Activity) {
	verb, _ := ocsfVerb(a.SystemName)
	e.classify(ocsfAPIActivity, verb)
	e.API = &ocsfAPI{Operation: a.SystemName}
	e.unmapObject(a)
}

// ocsfVerb is the CRUD activity of a system name's first word, ocsfOther
// for a word of none, and whether the word is a verb of ocsfVerbs.
func ocsfVerb(systemName string) (int, bool) {
	word, _, _ := strings.Cut(systemName, "_")
	if id, ok := ocsfVerbs[word]; ok {
		return id, true
	}
	return ocsfOther, false
}

// ocsfChanges reports whether a changes its object: it records column
// changes, or its system name starts with a verb of change.
func ocsfChanges(a auditlog.Activity) bool {
	id, verb := ocsfVerb(a.SystemName)
	return len(a.Changes) > 0 || (verb && id != ocsfRead)
}

// ocsfChange returns a's change of the named column.
func ocsfChange(a auditlog.Activity, column string) (auditlog.Change, bool) {
	i := slices.IndexFunc(a.Changes, func(c auditlog.Change) bool { return c.ColumnName == column })
	if i < 0 {
		return auditlog.Change{}, false
	}
	return a.Changes[i], true
}

// missing is the non-empty values of list that other lacks.
func missing(list, other []string) []string {
	var out []string
	for _, v := range list {
		if v != "" && !slices.Contains(other, v) {
			out = append(out, v)
		}
	}
	return out
}
