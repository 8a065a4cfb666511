package apiserver

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// Health is the gRPC health service (grpc.health.v1.Health) with readiness
// semantics: a service is SERVING while Ready says so, the answer /readyz
// gives, and NOT_SERVING otherwise. It answers for the whole server ("")
// and for every service registered on it.
type Health struct {
	healthpb.UnimplementedHealthServer
	// Ready says whether the server can serve now.
	Ready func() bool
	// Services are the names Check knows besides "".
	Services []string
	// Poll is how often Watch looks again (default 1 s).
	Poll time.Duration
}

// RegisterHealth registers the health service on gs for the services
// already registered there, and, with reflect, server reflection
// (grpc.reflection.v1 and v1alpha), which lets grpcurl list and call the
// API without its .proto files.
func RegisterHealth(gs *grpc.Server, ready func() bool, reflect bool) *Health {
	h := &Health{Ready: ready}
	for name := range gs.GetServiceInfo() {
		h.Services = append(h.Services, name)
	}
	healthpb.RegisterHealthServer(gs, h)
	if reflect {
		reflection.Register(gs)
	}
	return h
}

func (h *Health) status(service string) (healthpb.HealthCheckResponse_ServingStatus, error) {
	if service != "" && service != healthpb.Health_ServiceDesc.ServiceName {
		known := false
		for _, s := range h.Services {
			known = known || s == service
		}
		if !known {
			return healthpb.HealthCheckResponse_SERVICE_UNKNOWN, status.Errorf(codes.NotFound, "no service %q here", service)
		}
	}
	if h.Ready() {
		return healthpb.HealthCheckResponse_SERVING, nil
	}
	return healthpb.HealthCheckResponse_NOT_SERVING, nil
}

// Check answers whether service (or the server, for "") is ready.
func (h *Health) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	st, err := h.status(req.GetService())
	if err != nil {
		return nil, err
	}
	return &healthpb.HealthCheckResponse{Status: st}, nil
}

// List answers the status of the server and of every service.
func (h *Health) List(context.Context, *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	out := &healthpb.HealthListResponse{Statuses: map[string]*healthpb.HealthCheckResponse{}}
	for _, s := range append([]string{""}, h.Services...) {
		st, _ := h.status(s)
		out.Statuses[s] = &healthpb.HealthCheckResponse{Status: st}
	}
	return out, nil
}

// Watch sends the status now and again whenever it changes, until the
// caller leaves; an unknown service is SERVICE_UNKNOWN (it may appear).
func (h *Health) Watch(req *healthpb.HealthCheckRequest, stream grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	poll := h.Poll
	if poll <= 0 {
		poll = time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	last := healthpb.HealthCheckResponse_ServingStatus(-1)
	for {
		st, _ := h.status(req.GetService())
		if st != last {
			if err := stream.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
				return err
			}
			last = st
		}
		select {
		case <-stream.Context().Done():
			return status.FromContextError(stream.Context().Err()).Err()
		case <-t.C:
		}
	}
}

// HealthMethods are the full names of the health and reflection methods,
// which need no token (like /healthz and /readyz; reflection is served
// only where the operator enabled it).
func HealthMethods() []string {
	return []string{
		healthpb.Health_Check_FullMethodName, healthpb.Health_List_FullMethodName, healthpb.Health_Watch_FullMethodName,
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
		"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
	}
}
