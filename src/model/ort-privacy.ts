/**
 * Nothing leaves the machine: onnxruntime-node 1.30 otherwise writes a device id and queued telemetry events to
 * ~/.cache/Microsoft/DeveloperTools/.onnxruntime/, tries to reach a telemetry host, and leaves
 * $TMPDIR/mat-debug-<pid>.log at every start. Its native library reads ORT_DISABLE_TELEMETRY when it starts, and
 * that switch stops all three. This module only sets it; it must be evaluated before onnxruntime-node is loaded,
 * which ort-node.ts guarantees for every module of ours that uses the library.
 */
process.env.ORT_DISABLE_TELEMETRY = '1';
