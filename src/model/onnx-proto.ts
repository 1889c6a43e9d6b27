/**
 * The subset of the ONNX protobuf schema (onnx/onnx.proto3, field numbers unchanged) that covid-ct reads and
 * writes. Parsed at run time by protobufjs, so no generated code is committed.
 */
import protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto3";
package onnx;
message AttributeProto {
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10; }
  string name = 1; string ref_attr_name = 21; string doc_string = 13; AttributeType type = 20;
  float f = 2; int64 i = 3; bytes s = 4; TensorProto t = 5; GraphProto g = 6;
  repeated float floats = 7; repeated int64 ints = 8; repeated bytes strings = 9;
  repeated TensorProto tensors = 10; repeated GraphProto graphs = 11;
}
message ValueInfoProto { string name = 1; TypeProto type = 2; string doc_string = 3; }
message NodeProto {
  repeated string input = 1; repeated string output = 2; string name = 3; string op_type = 4;
  string domain = 7; repeated AttributeProto attribute = 5; string doc_string = 6;
}
message StringStringEntryProto { string key = 1; string value = 2; }
message OperatorSetIdProto { string domain = 1; int64 version = 2; }
message ModelProto {
  int64 ir_version = 1; repeated OperatorSetIdProto opset_import = 8; string producer_name = 2;
  string producer_version = 3; string domain = 4; int64 model_version = 5; string doc_string = 6;
  GraphProto graph = 7; repeated StringStringEntryProto metadata_props = 14;
}
message GraphProto {
  repeated NodeProto node = 1; string name = 2; repeated TensorProto initializer = 5; string doc_string = 10;
  repeated ValueInfoProto input = 11; repeated ValueInfoProto output = 12; repeated ValueInfoProto value_info = 13;
}
message TensorProto {
  enum DataType { UNDEFINED = 0; FLOAT = 1; UINT8 = 2; INT8 = 3; UINT16 = 4; INT16 = 5; INT32 = 6; INT64 = 7;
    STRING = 8; BOOL = 9; FLOAT16 = 10; DOUBLE = 11; UINT32 = 12; UINT64 = 13; }
  repeated int64 dims = 1; int32 data_type = 2; repeated float float_data = 4; repeated int32 int32_data = 5;
  repeated bytes string_data = 6; repeated int64 int64_data = 7; string name = 8; string doc_string = 12;
  bytes raw_data = 9; repeated double double_data = 10; repeated uint64 uint64_data = 11;
}
message TensorShapeProto {
  message Dimension { oneof value { int64 dim_value = 1; string dim_param = 2; } string denotation = 3; }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor { int32 elem_type = 1; TensorShapeProto shape = 2; }
  oneof value { Tensor tensor_type = 1; }
  string denotation = 6;
}
`;

export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7 } as const;

export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** Values widened to numbers (int64 values beyond 2^53 are not expected in weights). */
  values: Float64Array;
}

export interface OnnxAttribute { name: string; type: number; f?: number; i?: number; ints?: number[]; floats?: number[]; s?: string; }
export interface OnnxNode { name: string; opType: string; inputs: string[]; outputs: string[]; attributes: Map<string, OnnxAttribute>; }
export interface OnnxGraph {
  nodes: OnnxNode[];
  initializers: Map<string, OnnxTensor>;
  inputs: string[];
  outputs: string[];
  opset: number;
  metadata: Map<string, string>;
}

let root: protobuf.Root | undefined;
export function onnxRoot(): protobuf.Root {
  root ??= protobuf.parse(SCHEMA, { keepCase: true }).root;
  return root;
}

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && 'toNumber' in v) return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

function tensorValues(t: Record<string, unknown>): Float64Array {
  const dataType = Number(t.data_type);
  const raw = t.raw_data as Uint8Array | undefined;
  if (raw && raw.length > 0) {
    const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
    switch (dataType) {
      case DataType.FLOAT: return Float64Array.from(new Float32Array(buf));
      case DataType.UINT8: return Float64Array.from(new Uint8Array(buf));
      case DataType.INT8: return Float64Array.from(new Int8Array(buf));
      case DataType.INT32: return Float64Array.from(new Int32Array(buf));
      case DataType.INT64: return Float64Array.from(new BigInt64Array(buf), (b) => Number(b));
      default: throw new Error(`ONNX tensor ${String(t.name)}: unsupported data type ${dataType}`);
    }
  }
  const arr = ((t.float_data as number[] | undefined)?.length ? t.float_data
    : (t.int32_data as number[] | undefined)?.length ? t.int32_data
    : t.int64_data) as unknown[] | undefined;
  return Float64Array.from(arr ?? [], toNumber);
}

/** Decodes an ONNX model file's graph: nodes in order, initializers as numbers. */
export function readOnnxGraph(bytes: Uint8Array): OnnxGraph {
  const Model = onnxRoot().lookupType('onnx.ModelProto');
  const m = Model.toObject(Model.decode(bytes), { longs: Number, bytes: Uint8Array, defaults: false }) as Record<string, any>;
  const g = m.graph;
  if (!g) throw new Error('not an ONNX model (no graph)');
  const initializers = new Map<string, OnnxTensor>();
  for (const t of g.initializer ?? []) {
    initializers.set(t.name, { name: t.name, dims: (t.dims ?? []).map(toNumber), dataType: Number(t.data_type), values: tensorValues(t) });
  }
  const nodes: OnnxNode[] = (g.node ?? []).map((n: any) => ({
    name: n.name ?? '',
    opType: n.op_type,
    inputs: n.input ?? [],
    outputs: n.output ?? [],
    attributes: new Map((n.attribute ?? []).map((a: any) => [a.name, {
      name: a.name, type: a.type, f: a.f, i: a.i === undefined ? undefined : toNumber(a.i),
      ints: (a.ints ?? []).map(toNumber), floats: a.floats, s: a.s ? Buffer.from(a.s).toString('utf8') : undefined,
    }])),
  }));
  const opset = toNumber((m.opset_import ?? []).find((o: any) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);
  const metadata = new Map<string, string>((m.metadata_props ?? []).map((p: any) => [String(p.key), String(p.value)]));
  return {
    nodes, initializers, opset, metadata,
    inputs: (g.input ?? []).map((v: any) => v.name).filter((n: string) => !initializers.has(n)),
    outputs: (g.output ?? []).map((v: any) => v.name),
  };
}
