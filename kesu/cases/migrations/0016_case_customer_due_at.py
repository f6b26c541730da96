from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0015_rules17f'),
    ]

    operations = [
        migrations.AddField(
            model_name='case',
            name='customer_due_at',
            field=models.DateTimeField(blank=True, null=True, verbose_name='客人要求的解决时间'),
        ),
    ]
