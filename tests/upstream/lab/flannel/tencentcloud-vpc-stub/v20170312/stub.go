// Package vpc declares exactly what flannel v0.28.10's pkg/backend/tencentvpc/tencentvpc.go uses of the
// Tencent Cloud VPC SDK, so that flanneld builds without it; every request fails. The real lab runs flannel's
// vxlan backend, which never reaches this code.
package vpc

import "errors"

var errStub = errors.New("tencentcloud vpc: not built into this flanneld (hybridctl lab)")

type Filter struct {
	Name   *string
	Values []*string
}

type Route struct {
	DestinationCidrBlock *string
	GatewayType          *string
	GatewayId            *string
	RouteId              *uint64
	RouteType            *string
	Enabled              *bool
}

type RouteTable struct {
	RouteTableId *string
	RouteSet     []*Route
}

type DescribeRouteTablesRequest struct{ Filters []*Filter }
type DeleteRoutesRequest struct {
	RouteTableId *string
	Routes       []*Route
}
type CreateRoutesRequest struct {
	RouteTableId *string
	Routes       []*Route
}

type DescribeRouteTablesResponse struct {
	Response *struct{ RouteTableSet []*RouteTable }
}
type DeleteRoutesResponse struct{}
type CreateRoutesResponse struct{}

type Client struct{}

func NewClientWithSecretId(secretId, secretKey, region string) (*Client, error) { return nil, errStub }
func NewDescribeRouteTablesRequest() *DescribeRouteTablesRequest                 { return &DescribeRouteTablesRequest{} }
func NewDeleteRoutesRequest() *DeleteRoutesRequest                               { return &DeleteRoutesRequest{} }
func NewCreateRoutesRequest() *CreateRoutesRequest                               { return &CreateRoutesRequest{} }

func (*Client) DescribeRouteTables(*DescribeRouteTablesRequest) (*DescribeRouteTablesResponse, error) {
	return nil, errStub
}
func (*Client) DeleteRoutes(*DeleteRoutesRequest) (*DeleteRoutesResponse, error) { return nil, errStub }
func (*Client) CreateRoutes(*CreateRoutesRequest) (*CreateRoutesResponse, error) { return nil, errStub }
