// Compiled validators of the message contracts, one per message type, compiled on first use: the engine
// validates what it consumes and the agent gateway what agents send, with the same code.
import type { TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { messageContracts, type MessageType } from './messages.ts';

const validators = new Map<MessageType, Validator<Record<PropertyKey, TSchema>>>();

export function messageValidator(type: MessageType): Validator<Record<PropertyKey, TSchema>> {
  let validator = validators.get(type);
  if (validator === undefined) {
    validator = Compile(messageContracts[type].schema);
    validators.set(type, validator);
  }
  return validator;
}
