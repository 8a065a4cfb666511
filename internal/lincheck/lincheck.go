// Package lincheck is the model that the linearizability checks of central
// (in process) and of the fault suite (in containers) share: a set of
// registers, one per key, written and read by concurrent clients, checked
// with porcupine.
package lincheck

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// Input is one operation on one register: a write of Value, or a read
// (whose output is the value read, a string).
type Input struct {
	Write bool
	Key   string
	Value string
}

// RegisterModel checks each key's operations as a separate register that
// starts empty.
var RegisterModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(Input).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(Input)
		if in.Write {
			return true, in.Value
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(Input)
		if in.Write {
			return fmt.Sprintf("put(%s, %q)", in.Key, in.Value)
		}
		return fmt.Sprintf("get(%s) → %q", in.Key, output)
	},
}
