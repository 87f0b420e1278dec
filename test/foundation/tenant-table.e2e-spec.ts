import { DynamoClients, Entities } from '@lib/dynamo';
import { REFUSED, TenantTable } from '@lib/tenancy';
import { startApp, type TestApp } from '../support/harness';
import { createTenant } from '../support/tenants';
import { loginOperator } from '../support/tokens';

/** The tenant-table handle on a real tenant table: typed outcomes, paging, batches. */
describe('TenantTable', () => {
  let t: TestApp;
  let table: TenantTable;

  beforeAll(async () => {
    t = await startApp();
    const tenant = await createTenant(t.url, (await loginOperator(t.url)).accessToken);
    table = new TenantTable(t.app.get(DynamoClients), { id: tenant.id, tableName: tenant.tableName });
  });
  afterAll(() => t.close());

  it('a write refused by its condition is REFUSED, not an error; other failures still throw', async () => {
    const key = Entities.chat.key('01TABLESPEC000000000000001');
    expect(await table.put({ ...key, n: 1 }, { ConditionExpression: 'attribute_not_exists(pk)' })).toBeUndefined();
    expect(await table.put({ ...key, n: 2 }, { ConditionExpression: 'attribute_not_exists(pk)' })).toBe(REFUSED);
    const updated = await table.update<{ n: number }>(key, {
      UpdateExpression: 'SET n = :n',
      ConditionExpression: 'n = :was',
      ExpressionAttributeValues: { ':n': 3, ':was': 1 },
    });
    expect(updated).toMatchObject({ n: 3 });
    expect(
      await table.update(key, {
        UpdateExpression: 'SET n = :n',
        ConditionExpression: 'n = :was',
        ExpressionAttributeValues: { ':n': 4, ':was': 1 },
      }),
    ).toBe(REFUSED);
    await expect(table.update(key, { UpdateExpression: 'SET #bad = :n' })).rejects.toThrow();
    expect(await table.get<{ n: number }>(key)).toMatchObject({ n: 3 });
  });

  it('a refused transaction says what each refusing item meant, and writes nothing', async () => {
    const a = Entities.chat.key('01TABLESPEC000000000000002');
    const b = Entities.chat.key('01TABLESPEC000000000000003');
    await table.put({ ...b, n: 1 });
    const result = await table.transact<'a_exists' | 'b_exists'>([
      { put: { ...a, n: 1 }, when: { ConditionExpression: 'attribute_not_exists(pk)' }, refusal: 'a_exists' },
      { put: { ...b, n: 2 }, when: { ConditionExpression: 'attribute_not_exists(pk)' }, refusal: 'b_exists' },
    ]);
    expect(result).toEqual({ committed: false, refused: ['b_exists'] });
    expect(await table.get(a)).toBeUndefined();
    expect(
      await table.transact([
        { put: { ...a, n: 1 } },
        { check: b, when: { ConditionExpression: 'n = :one', ExpressionAttributeValues: { ':one': 1 } } },
      ]),
    ).toEqual({ committed: true });
  });

  it('pages an access pattern, reads 250 keys in batches, and deletes a partition', async () => {
    const chatId = '01TABLESPEC000000000000009';
    const ids = Array.from({ length: 250 }, (_, i) => `01TABLESPECMSG${String(i).padStart(12, '0')}`);
    await table.put({ ...Entities.chat.key(chatId), title: 'x' });
    for (let i = 0; i < ids.length; i += 25) {
      await table.transact(ids.slice(i, i + 25).map((id) => ({ put: { ...Entities.message.key(chatId, id), id } })));
    }
    const first = await table.query<{ sk: string }>(Entities.message.page(chatId), { limit: 11 });
    expect(Entities.message.isChatItem(first.items[0])).toBe(true);
    expect(first.items).toHaveLength(11);
    const all: string[] = [];
    for await (const m of table.all<{ id: string }>(Entities.message.newest(chatId), 40)) all.push(m.id);
    expect(all).toEqual([...ids].reverse());
    const many = await table.getMany<{ id: string }>(ids.map((id) => Entities.message.key(chatId, id)));
    expect(many.map((m) => m.id).sort()).toEqual(ids);
    expect(await table.deleteAll(Entities.chat.partition(chatId))).toBe(251);
    expect((await table.query(Entities.chat.partition(chatId))).items).toEqual([]);
  });
});
