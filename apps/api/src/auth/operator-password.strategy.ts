import { Injectable } from '@nestjs/common';
import { AuthStrategy, Authenticator, type PasswordAttempt, Strategies } from '@lib/auth';
import type { OperatorAttributes } from '@lib/dynamo';
import { OperatorsService } from '../operators/operators.service';

/** An operator's e-mail and password (POST /v1/platform/auth/login): OperatorsService.verifyPassword. */
@Injectable()
export class OperatorPasswordStrategy extends AuthStrategy(Strategies.operatorPassword) {
  constructor(
    authenticator: Authenticator,
    private readonly operators: OperatorsService,
  ) {
    super(authenticator);
  }

  validate(attempt: PasswordAttempt): Promise<OperatorAttributes> {
    return this.operators.verifyPassword(attempt);
  }
}
