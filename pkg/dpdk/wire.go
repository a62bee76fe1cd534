package dpdk

// OVSDB's notation on the wire (RFC 7047 sections 5.1 and 5.2) and the
// checking of a transaction's results: just what this package sends and
// reads.
//
// These replace libovsdb's ovsdb package, which this package used for its
// protocol types alone: that package compiles a regexp at init, which
// GODEBUG=inittrace timed at up to 8 ms in the emulated test guest, on every
// CNI call, in every mode, even those that never talk to OVS. They write
// and read what libovsdb's types wrote and read, so the wire is unchanged.

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// operation is one operation of a transaction, with the members used here.
type operation struct {
	Op        string     `json:"op"`
	Table     string     `json:"table"`
	Row       row        `json:"row,omitempty"`
	Rows      []row      `json:"rows,omitempty"`
	Columns   []string   `json:"columns,omitempty"`
	Mutations []mutation `json:"mutations,omitempty"`
	Timeout   *int       `json:"timeout,omitempty"`
	// Where is left out when nil, as an insert needs; a select of every
	// row would need an empty, non-nil Where ("where": []).
	Where    []condition `json:"where,omitzero"`
	Until    string      `json:"until,omitempty"`
	UUIDName string      `json:"uuid-name,omitempty"`
}

// condition is [column, function, value], e.g. ["name", "==", "br0"].
type condition [3]any

// mutation is [column, mutator, value], e.g. ["ports", "insert", set].
type mutation [3]any

// Values. Written, a Go string, number or bool is an OVSDB atom as it is.
// Read, a row's values are strings, numbers (float64, as encoding/json
// reads them), booleans, uuid, set or ovsMap: a set of one element is read
// as that element, as the server writes it.
type (
	// uuid is a row's UUID: ["uuid", "..."].
	uuid string
	// namedUUID is the uuid-name of a row inserted by the same
	// transaction: ["named-uuid", "..."].
	namedUUID string
	// set is written ["set", [...]], or as its element alone if it has
	// exactly one.
	set []any
	// ovsMap is written ["map", [[key, value], ...]], keys in order.
	ovsMap map[any]any
	// row is a table row: column name to value.
	row map[string]any
)

func (u uuid) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]string{"uuid", string(u)})
}

func (u namedUUID) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]string{"named-uuid", string(u)})
}

func (s set) MarshalJSON() ([]byte, error) {
	switch len(s) {
	case 0:
		return []byte(`["set",[]]`), nil
	case 1:
		return json.Marshal(s[0])
	}
	return json.Marshal([]any{"set", []any(s)})
}

func (m ovsMap) MarshalJSON() ([]byte, error) {
	pairs := make([][2]any, 0, len(m))
	for k, v := range m {
		pairs = append(pairs, [2]any{k, v})
	}
	// Any order would do; sorted, the same map is always the same bytes.
	sort.Slice(pairs, func(i, j int) bool { return fmt.Sprint(pairs[i][0]) < fmt.Sprint(pairs[j][0]) })
	return json.Marshal([]any{"map", pairs})
}

func (r *row) UnmarshalJSON(b []byte) error {
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*r = make(row, len(raw))
	for column, v := range raw {
		v, err := readValue(v)
		if err != nil {
			return fmt.Errorf("column %q: %w", column, err)
		}
		(*r)[column] = v
	}
	return nil
}

// readValue turns a value as encoding/json read it into the types above.
// An array that is not a uuid, named-uuid, set or map is an error.
func readValue(v any) (any, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return readAtom(v)
	}
	switch a[0] {
	case "set":
		elems, ok := a[1].([]any)
		if !ok {
			return nil, fmt.Errorf("bad set %v", v)
		}
		s := make(set, len(elems))
		for i, e := range elems {
			var err error
			if s[i], err = readAtom(e); err != nil {
				return nil, err
			}
		}
		return s, nil
	case "map":
		pairs, ok := a[1].([]any)
		if !ok {
			return nil, fmt.Errorf("bad map %v", v)
		}
		m := make(ovsMap, len(pairs))
		for _, p := range pairs {
			kv, ok := p.([]any)
			if !ok || len(kv) != 2 {
				return nil, fmt.Errorf("bad map pair %v", p)
			}
			k, err := readAtom(kv[0])
			if err != nil {
				return nil, err
			}
			if m[k], err = readAtom(kv[1]); err != nil {
				return nil, err
			}
		}
		return m, nil
	}
	return readAtom(v)
}

// readAtom reads a uuid or named-uuid, and leaves a string, number or
// boolean as it is.
func readAtom(v any) (any, error) {
	a, ok := v.([]any)
	if !ok {
		return v, nil
	}
	if len(a) == 2 {
		s, ok := a[1].(string)
		switch {
		case ok && a[0] == "uuid":
			return uuid(s), nil
		case ok && a[0] == "named-uuid":
			return namedUUID(s), nil
		}
	}
	return nil, fmt.Errorf("not in OVSDB notation: %v", v)
}

// opResult is one element of a transaction's result: the rows of a select,
// or the error of an operation that failed. (An insert's uuid and a
// mutate's count are not read.)
type opResult struct {
	Rows    []row  `json:"rows"`
	Error   string `json:"error"`
	Details string `json:"details"`
}

// opError is an operation that failed, or with op nil the commit of a
// transaction whose operations all succeeded (RFC 7047 section 4.1.3).
// name is the RFC's error string, e.g. "timed out" for a wait whose
// condition did not hold, "constraint violation" for an index clash.
type opError struct {
	name    string
	details string
	// op points into the operations given to transact.
	op *operation
}

func (e *opError) Error() string {
	if e.details == "" {
		return e.name
	}
	return e.name + ": " + e.details
}

// checkResults turns the results of a transaction into its error, nil if
// it succeeded: one *opError for each operation that failed, joined, or
// else the commit's error, the element the server adds after the
// operations' results when those all succeeded but the commit failed.
// ovsdb-server stops at the first operation that fails (the later results
// are null), so there is one at most.
func checkResults(res []opResult, ops []operation) error {
	if len(res) < len(ops) {
		return fmt.Errorf("ovsdb transaction error. %d operations submitted but only %d results received", len(ops), len(res))
	}
	var errs []error
	for i := range ops {
		if res[i].Error != "" {
			errs = append(errs, &opError{name: res[i].Error, details: res[i].Details, op: &ops[i]})
		}
	}
	if len(errs) == 0 && len(res) > len(ops) && res[len(ops)].Error != "" {
		errs = append(errs, &opError{name: res[len(ops)].Error, details: res[len(ops)].Details})
	}
	return errors.Join(errs...)
}

// failedOp returns the first *opError named so in err's tree, in the order
// errors.As walks it; nil if none.
func failedOp(err error, name string) *opError {
	switch e := err.(type) {
	case *opError:
		if e.name == name {
			return e
		}
	case interface{ Unwrap() error }:
		return failedOp(e.Unwrap(), name)
	case interface{ Unwrap() []error }:
		for _, err := range e.Unwrap() {
			if f := failedOp(err, name); f != nil {
				return f
			}
		}
	}
	return nil
}
