import { ValidateBy, type ValidationOptions } from 'class-validator';

/**
 * Control characters a multi-line text (message content, a system prompt, a description) must not hold: C0
 * controls but tab, newline and CR, and DEL. NUL and ESC in stored text end up in logs, terminals, exports and
 * other systems' parsers, where they truncate or inject.
 */
export const CONTROL_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

/** Control characters a single-line text (a name, an e-mail, a token) must not hold: every C0 control, and DEL. */
export const LINE_CONTROL_CHARS = /[\u0000-\u001F\u007F]/;

export const CONTROL_CHARS_MESSAGE = 'control characters other than tab and newline are not allowed';
export const LINE_CONTROL_CHARS_MESSAGE = 'control characters (newlines and tabs included) are not allowed';

/**
 * The one rule for text in request bodies: a string with control characters is refused with a 400 naming the
 * field (the validation pipe's problem). Single-line by default; `{ multiline: true }` allows tab, newline and CR.
 * Values that are not strings are left to the field's type check.
 */
export function NoControlChars(options: { multiline?: boolean } = {}, validationOptions?: ValidationOptions) {
  const pattern = options.multiline ? CONTROL_CHARS : LINE_CONTROL_CHARS;
  const message = options.multiline ? CONTROL_CHARS_MESSAGE : LINE_CONTROL_CHARS_MESSAGE;
  return ValidateBy(
    {
      name: options.multiline ? 'noControlChars' : 'noLineControlChars',
      validator: {
        validate: (value: unknown) => typeof value !== 'string' || !pattern.test(value),
        defaultMessage: () => message,
      },
    },
    validationOptions,
  );
}
