-- The histogram of the audit log counts a filter's matches per interval and
-- operator. For the two filters whose values can match a large share of the
-- log (an activity name, an object type) these indexes answer each count
-- without reading a row: (column, operator) entries end in the id, so one
-- operator's matches in an id range are one contiguous run of the index.
CREATE INDEX activities_by_activity_operator    ON activities (activity_system_name, operator);
CREATE INDEX activities_by_object_type_operator ON activities (object_type, operator);
