package central

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// localConn calls a service of this process as a gRPC client would, with
// no network between: the request and answer are copied, the caller's
// outgoing metadata becomes the call's incoming metadata, and the call
// goes through the same interceptor as one over gRPC. The REST gateway,
// the report export and the dashboard call CentralService through it, so
// that the access check (Server.checkAccess) is the same one for all.
type localConn struct {
	desc      *grpc.ServiceDesc
	srv       any
	intercept grpc.UnaryServerInterceptor
}

// Invoke calls one unary method.
func (c *localConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	name, ok := strings.CutPrefix(method, "/"+c.desc.ServiceName+"/")
	var handler grpc.MethodHandler
	for _, m := range c.desc.Methods {
		if ok && m.MethodName == name {
			handler = m.Handler
		}
	}
	if handler == nil {
		return status.Errorf(codes.Unimplemented, "%s is not a method of %s", method, c.desc.ServiceName)
	}
	in, ok1 := args.(proto.Message)
	out, ok2 := reply.(proto.Message)
	if !ok1 || !ok2 {
		return status.Errorf(codes.Internal, "%s: request or answer is not a protobuf message", method)
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	ctx = metadata.NewIncomingContext(ctx, md.Copy())
	// What the handler calls onwards (a write forwarded to the leader)
	// sets its own metadata: the caller's is not passed on unasked.
	ctx = metadata.NewOutgoingContext(ctx, metadata.MD{})
	st := &localStream{method: method}
	ctx = grpc.NewContextWithServerTransportStream(ctx, st)
	resp, err := handler(c.srv, ctx, func(v any) error {
		m, ok := v.(proto.Message)
		if !ok || m.ProtoReflect().Descriptor().FullName() != in.ProtoReflect().Descriptor().FullName() {
			return status.Errorf(codes.Internal, "%s: the request is not a %T", method, v)
		}
		proto.Merge(m, in)
		return nil
	}, c.intercept)
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			*o.HeaderAddr = st.header
		case grpc.TrailerCallOption:
			*o.TrailerAddr = st.trailer
		}
	}
	if err != nil {
		return err
	}
	m, ok := resp.(proto.Message)
	if !ok || m.ProtoReflect().Descriptor().FullName() != out.ProtoReflect().Descriptor().FullName() {
		return status.Errorf(codes.Internal, "%s: the answer is not a %T", method, reply)
	}
	proto.Reset(out)
	proto.Merge(out, m)
	return nil
}

// NewStream: the services called in process have no streams.
func (c *localConn) NewStream(_ context.Context, _ *grpc.StreamDesc, method string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Errorf(codes.Unimplemented, "%s: streams are not called in process", method)
}

// localStream keeps the headers and trailers a handler sets.
type localStream struct {
	method          string
	header, trailer metadata.MD
}

func (s *localStream) Method() string { return s.method }

func (s *localStream) SetHeader(md metadata.MD) error {
	s.header = metadata.Join(s.header, md)
	return nil
}

func (s *localStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }

func (s *localStream) SetTrailer(md metadata.MD) error {
	s.trailer = metadata.Join(s.trailer, md)
	return nil
}
