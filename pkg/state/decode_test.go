package state

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestDecodeRecordIsJSONUnmarshal(t *testing.T) {
	full := &Record{}
	n := 0
	fill(reflect.ValueOf(full).Elem(), &n)
	fullJSON, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	inputs := []string{
		string(fullJSON),
		`{}`, `null`, `[]`, `"x"`, `1`, ``, `{`, `{"network":"n"} trailing`,
		`{"network":"n","device":"d","config":null,"vhost":null,"pfOrig":null,"netdevOrig":null}`,
		`{"network":"n","unknown":{"deep":[1,2]},"vfIndex":7,"config":{ "a" : [1, 2] }}`,
		`{"vfIndex":"7"}`, `{"vfIndex":1e3}`, `{"vfIndex":1.5}`, `{"vfIndex":99999999999999999999}`,
		`{"network":5}`, `{"network":null}`, `{"network":"a","network":"b"}`,
		`{"vhost":5}`, `{"vhost":[]}`, `{"vhost":{"vlan":"x"}}`, `{"vhost":{"backend":"ovs","vlan":4094}}`,
		`{"pfOrig":{"linkState":-1}}`, `{"pfOrig":{"linkState":4294967295,"spoofchk":true,"trust":null}}`,
		`{"pfOrig":{"spoofchk":"yes"}}`, `{"netdevOrig":{"up":1}}`, `{"netdevOrig":{"mtu":1500,"up":true,"perm":"x"}}`,
		`{"config":"a string"}`, `{"config":[1,{"b":null}]}`, `{"args":"IgnoreUnknown=1"}`,
	}
	for _, in := range inputs {
		var want, got Record
		werr := json.Unmarshal([]byte(in), &want)
		gerr := decodeRecord([]byte(in), &got)
		if (werr == nil) != (gerr == nil) {
			t.Errorf("%s: json.Unmarshal: %v, decodeRecord: %v", in, werr, gerr)
			continue
		}
		if werr == nil && !reflect.DeepEqual(want, got) {
			t.Errorf("%s:\njson.Unmarshal %+v\ndecodeRecord   %+v", in, want, got)
		}
	}
}
