import { ApiExtraModels, ApiProperty, ApiPropertyOptional, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { applyDecorators } from '@nestjs/common';

export class ProblemFieldDto {
  @ApiProperty({ maxLength: 200, example: 'email' })
  field!: string;

  @ApiProperty({ maxLength: 1000 })
  message!: string;
}

/** RFC 9457 problem details, as the API answers every error (`application/problem+json`). */
export class ProblemDto {
  @ApiProperty({ maxLength: 200, example: 'about:blank' })
  type!: string;

  @ApiProperty({ maxLength: 200, example: 'Not Found' })
  title!: string;

  @ApiProperty({ type: 'integer', format: 'int32', minimum: 400, maximum: 599 })
  status!: number;

  @ApiPropertyOptional({ maxLength: 1000 })
  detail?: string;

  @ApiProperty({ maxLength: 2048, example: '/v1/users/01J9Z8Q3M5XK6B2N4P7R8S9T0V' })
  instance!: string;

  @ApiProperty({ maxLength: 128 })
  requestId!: string;

  @ApiPropertyOptional({ type: [ProblemFieldDto], maxItems: 100 })
  errors?: ProblemFieldDto[];
}

/** Documents a problem response with `status` on a route. */
export function ApiProblem(status: number, description: string): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ProblemDto, ProblemFieldDto),
    ApiResponse({
      status,
      description,
      content: { 'application/problem+json': { schema: { $ref: getSchemaPath(ProblemDto) } } },
    }),
  );
}
