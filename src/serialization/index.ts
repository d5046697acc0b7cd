/** `stratacache/serializers`: the serializers and the L2 entry format. */
export {
  decodeEnvelope,
  ENVELOPE_MAGIC,
  ENVELOPE_VERSION,
  type Envelope,
  encodeEnvelope,
} from './envelope.js'
export { DecodeError, MAX_DEPTH } from './limits.js'
export { MsgpackSerializer } from './msgpack.js'
export type { Serializer } from './serializer.js'
export { TaggedJsonSerializer } from './tagged-json.js'
