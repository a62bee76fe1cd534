package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// fill sets every field of the struct v points to, nested structs
// included, to a value of its own (n counts them), with characters that
// encoding/json escapes in the strings.
func fill(v reflect.Value, n *int) {
	for i := range v.NumField() {
		f := v.Field(i)
		*n++
		switch {
		case f.Type() == reflect.TypeOf(json.RawMessage(nil)):
			f.SetBytes([]byte(fmt.Sprintf(" { \"k%d\" : [1, \"<&>\u2028\"] } ", *n)))
		case f.Kind() == reflect.String:
			f.SetString(fmt.Sprintf("s%d <&> \"\\\u2028\xff", *n))
		case f.Kind() == reflect.Int:
			f.SetInt(int64(*n) * -1000003)
		case f.Kind() == reflect.Uint32:
			f.SetUint(uint64(*n) + 1<<31)
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.Struct:
			f.Set(reflect.New(f.Type().Elem()))
			fill(f.Elem(), n)
		default:
			panic(fmt.Sprintf("fill: field %s of kind %s: teach fill and encodeRecord", v.Type().Field(i).Name, f.Kind()))
		}
	}
}

func TestEncodeRecordIsJSONMarshal(t *testing.T) {
	full := &Record{}
	n := 0
	fill(reflect.ValueOf(full).Elem(), &n)
	cases := map[string]*Record{
		"every field set": full,
		"zero":            {},
		"kernel VF": {Network: "n", ContainerID: "c", IfName: "net1", NetNS: "/ns", Mode: ModeKernel, Device: "0000:01:10.0",
			PCI: "0000:01:10.0", PF: "eth0", PFPCI: "0000:01:00.0", PFOrig: full.PFOrig, NetdevOrig: full.NetdevOrig,
			Config: json.RawMessage(`{"cniVersion":"1.1.0"}`)},
		"vhost, optional fields empty": {Mode: ModeVhostUser, Vhost: &Vhost{Backend: "ovs", Role: "server"}, Config: json.RawMessage(`{}`)},
	}
	for name, r := range cases {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeRecord(r)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("encodeRecord = %s, %v\njson.Marshal = %s", got, err, want)
			}
		})
	}
	if _, err := encodeRecord(&Record{Config: json.RawMessage(`{"a":`)}); err == nil {
		t.Error("a config that is not JSON was encoded")
	}
}
