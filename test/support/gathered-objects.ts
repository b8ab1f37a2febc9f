// An agent's objects reach `imports` many to a message (joinery.import.objects.v1, gathered by the gateway:
// src/connectors/import-chunks.ts), each with the id of the message the agent numbered. The tests look at them
// as the messages the agent sent: one per object, with its own id and data.

/** A read message as one message per object: a chunk's objects each with their id, anything else as it is. */
export function perObject<M extends { id: string; type: string; data: Record<string, unknown> }>(
  message: M,
): M[] {
  if (message.type !== 'joinery.import.objects.v1') return [message];
  const { objects, ...common } = message.data as { objects: Record<string, unknown>[] };
  return objects.map(({ id, ...object }) => ({
    ...message,
    id: typeof id === 'string' ? id : message.id,
    type: 'joinery.import.object.v1',
    data: { ...common, ...object },
  }));
}
